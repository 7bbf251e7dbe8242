// The official JS SDK's side of the interop test (interop.sh), against the
// Azurite that azurite.sh started (PEX_AZURITE_CONNSTR, PEX_AZURITE_PREFIX).
//
//   node interop.js expect-base64 QUEUE HEX
//       receive one message with the SDK (default: no message encoding, so
//       messageText is exactly what is stored), check that it is canonical
//       base64 of the bytes HEX -- what an Azure Functions queue trigger
//       (base64 by default) decodes -- and delete it
//   node interop.js send QUEUE TEXT
//       create the queue if missing and send TEXT as is (the SDK's default,
//       i.e. what Python/.NET/JS producers without a base64 policy write)
//   node interop.js expect-pool-json QUEUE NAME ID ALIAS GUEST_PIN [CREATED]
//       receive one message as an Azure Functions queue trigger would: the
//       messageText must be canonical base64, decoded ONCE to UTF-8 it must
//       parse as the room JSON {"name","id","alias","guest_pin","created"}
//       with these values ("-" = null; without CREATED any Unix time), and
//       nothing else; then delete it
'use strict';
const path = require('path');
const prefix = process.env.PEX_AZURITE_PREFIX;
const conn = process.env.PEX_AZURITE_CONNSTR;
if (!prefix || !conn) {
	console.error('interop.js: PEX_AZURITE_PREFIX and PEX_AZURITE_CONNSTR are required');
	process.exit(2);
}
const { QueueClient } = require(path.join(prefix, 'node_modules', '@azure/storage-queue'));

const canonical = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

async function receiveOne(q, queue) {
	const r = await q.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 30 });
	if (r.receivedMessageItems.length !== 1) {
		console.error('interop.js: no message in ' + queue);
		return null;
	}
	return r.receivedMessageItems[0];
}

async function main(argv) {
	const [cmd, queue, arg] = argv;
	const q = new QueueClient(conn, queue);
	if (cmd === 'send') {
		await q.createIfNotExists();
		await q.sendMessage(arg);
		return 0;
	}
	if (cmd === 'expect-pool-json') {
		const [, , name, id, alias, pin, created] = argv;
		const m = await receiveOne(q, queue);
		if (!m)
			return 1;
		const text = m.messageText;
		if (!canonical.test(text)) {
			console.error('interop.js: messageText ' + JSON.stringify(text) + ' is not base64');
			return 1;
		}
		const decoded = Buffer.from(text, 'base64');
		const json = decoded.toString('utf8');
		if (!Buffer.from(json, 'utf8').equals(decoded)) {
			console.error('interop.js: decoded bytes are not UTF-8');
			return 1;
		}
		let obj;
		try {
			obj = JSON.parse(json);
		} catch (e) {
			console.error('interop.js: decoded once, ' + JSON.stringify(json) +
				' is not JSON (' + e.message + ')');
			return 1;
		}
		const want = {
			name: name,
			id: Number(id),
			alias: alias === '-' ? null : alias,
			guest_pin: pin === '-' ? null : pin,
		};
		const keys = Object.keys(obj).sort().join(',');
		const bad = [];
		if (keys !== 'alias,created,guest_pin,id,name')
			bad.push('keys ' + keys);
		for (const k of Object.keys(want))
			if (obj[k] !== want[k])
				bad.push(k + ' ' + JSON.stringify(obj[k]) + ' != ' + JSON.stringify(want[k]));
		if (created !== undefined ? obj.created !== Number(created) :
			!(Number.isInteger(obj.created) && obj.created > 1600000000))
			bad.push('created ' + JSON.stringify(obj.created));
		if (bad.length) {
			console.error('interop.js: room JSON ' + json + ': ' + bad.join('; '));
			return 1;
		}
		await q.deleteMessage(m.messageId, m.popReceipt);
		console.log('sdk decoded once: ' + json);
		return 0;
	}
	if (cmd === 'expect-base64') {
		const m = await receiveOne(q, queue);
		if (!m)
			return 1;
		const text = m.messageText;
		const expected = Buffer.from(arg, 'hex');
		if (!canonical.test(text) || text !== expected.toString('base64')) {
			console.error('interop.js: messageText ' + JSON.stringify(text) +
				' is not base64 of ' + arg);
			return 1;
		}
		if (!Buffer.from(text, 'base64').equals(expected)) {
			console.error('interop.js: base64 decodes to other bytes');
			return 1;
		}
		await q.deleteMessage(m.messageId, m.popReceipt);
		console.log('sdk read base64 ' + JSON.stringify(text) + ' -> ' +
			JSON.stringify(expected.toString('utf8')));
		return 0;
	}
	console.error('interop.js: unknown command ' + cmd);
	return 2;
}

main(process.argv.slice(2)).then((rc) => process.exit(rc), (e) => {
	console.error('interop.js: ' + (e && e.message ? e.message : e));
	process.exit(1);
});
