#!/usr/bin/env bash
# pexctl's help and habits, no server needed: COMMAND --help and help
# COMMAND, global flags after the command, did-you-mean, every flag in the
# man page and the README synopsis, the bash completion script.
# Usage: test_pexctl_help.sh PEXCTL MAN_PAGE README BASH_COMPLETION
set -u
PEXCTL_BIN=$1 man=$2 readme=$3 completion=$4
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

mapfile -t cmds < <(pexctl --json help | jq -r '.commands[].name')
[ "${#cmds[@]}" -ge 13 ] && ok || bad "help --json lists ${#cmds[@]} commands"
# the man page's flags as written there (\-\-name)
man_flags=$(grep -o '\\-\\-[a-z][a-z\\-]*' "$man" | sed 's/\\-/-/g' | sort -u)
synopsis=$(sed -n '/^## pexctl/,/^```$/{/^```$/q;p}' "$readme"; sed -n '/^## pexctl/,/^Cron/p' "$readme")

for c in "${cmds[@]}"; do
	expect 0 "$c --help" -- pexctl "$c" --help
	cp "$work/out" "$work/help.$c"
	contains "$work/out" "usage: pexctl $c" "$c --help usage line"
	contains "$work/out" "Example:" "$c --help example"
	expect 0 "$c -h" -- pexctl "$c" -h
	cmp -s "$work/out" "$work/help.$c" && ok || bad "$c -h differs from $c --help"
	expect 0 "help $c" -- pexctl help "$c"
	cmp -s "$work/out" "$work/help.$c" && ok || bad "help $c differs from $c --help"
	[ -s "$work/err" ] && bad "help $c wrote to stderr" || ok
	# one line per flag: the help's flags are exactly the --json help's
	want=$(pexctl --json help "$c" | jq -r '.flags[].name' | sort)
	got=$(sed -n '/^Flags:/,/^$/p' "$work/help.$c" | grep -o '^  --[a-z-]*' | sed 's/^  --//' | sort)
	[ "$got" = "$want" ] && ok || bad "$c --help flag lines '$got', want '$want'"
	for f in $want; do
		grep -qxF -- "--$f" <<<"$man_flags" && ok || bad "$c --$f is not in $man"
		grep -qF -- "--$f" <<<"$synopsis" && ok || bad "$c --$f is not in the README synopsis"
		# every flag in the help is one the command accepts (not 'unknown option')
		# (a configuration that does not exist: nothing runs past the options)
		pexctl -c "$work/none.yaml" "$c" "--$f" 1 >/dev/null 2>"$work/err"
		lacks "$work/err" "unknown option" "$c --$f accepted"
	done
done

# global flags after the command
expect 0 "version --json" -- pexctl version --json
jq_is "$work/out" '.library | length > 0' true "version --json after the command"
expect 5 "gc --json -c MISSING" -- pexctl gc --json -c "$work/nope.yaml"
json_error "$work/out" PEX_ECONFIG 5 "gc --json -c after the command"
contains "$work/err" "nope.yaml" "-c after the command names the file"
expect 5 "gc -q --config=MISSING" -- pexctl gc -q "--config=$work/nope.yaml"
expect 0 "event --help --json" -- pexctl event --json --help
jq_is "$work/out" '.name' event "--json --help after the command"
expect 0 "--help COMMAND" -- pexctl --help gc
cmp -s "$work/out" "$work/help.gc" && ok || bad "--help gc differs from gc --help"
# a flag's value is never taken for a global flag; after -- nothing is
expect 2 "update --description -v" -- pexctl update --description -v
contains "$work/err" "update takes one NAME" "a flag's value stays the flag's"

# did-you-mean, exit 2
expect 2 "misspelt command" -- pexctl crate
contains "$work/err" "did you mean 'create'?" "did-you-mean for a command"
expect 2 "misspelt command, json" -- pexctl --json gcc
json_error "$work/out" PEX_EINVAL 2 "misspelt command, json"
jq_is "$work/out" '.error.message | test("did you mean .gc.")' true "did-you-mean in the json error"
expect 2 "misspelt flag" -- pexctl gc --dryrun
contains "$work/err" "did you mean '--dry-run'?" "did-you-mean for a flag"
contains "$work/err" "usage: pexctl gc" "a usage error shows the command's usage"
expect 2 "misspelt pool flag" -- pexctl pool fill --depht 3
contains "$work/err" "did you mean '--depth'?" "did-you-mean for a pool flag"
expect 2 "far-off flag" -- pexctl gc --frobnicate
lacks "$work/err" "did you mean" "no suggestion for a far-off flag"
expect 2 "flag without its value" -- pexctl gc --max
contains "$work/err" "--max needs a value" "a missing value is named"
expect 2 "help for a misspelt command" -- pexctl help metrcs
contains "$work/err" "did you mean 'metrics'?" "did-you-mean in help COMMAND"

# the bash completion script loads and offers the commands and flags
bindir=$(cd "$(dirname "$PEXCTL_BIN")" && pwd)
expect 0 "completion loads" -- bash -c "source '$completion'; complete -p pexctl"
contains "$work/out" "_pexctl" "complete -p pexctl"
comp() { # words... (the last is the word being completed): the candidates
	PATH="$bindir:$PATH" bash -c 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pexctl; printf "%s\n" "${COMPREPLY[@]}"' "$completion" pexctl "$@"
}
comp "" >"$work/comp"
for c in "${cmds[@]}"; do contains "$work/comp" "$c" "completion offers $c"; done
comp c >"$work/comp"
contains "$work/comp" "create" "completion of 'c'"
lacks "$work/comp" "gc" "completion of 'c' is filtered"
comp gc --d >"$work/comp"
contains "$work/comp" "--dry-run" "completion of a command's flag"
comp -q pool "" >"$work/comp"
contains "$work/comp" "drain" "completion of pool's subcommands"

finish
