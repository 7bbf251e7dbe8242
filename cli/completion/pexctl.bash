# bash completion for pexctl(1): the candidates come from the command
# table of pexctl itself ('pexctl __complete WORD...').
# shellcheck shell=bash
_pexctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-c | --config | event)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	esac
	local words
	words=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F _pexctl pexctl
