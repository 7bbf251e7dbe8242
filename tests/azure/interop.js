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
'use strict';
const path = require('path');
const prefix = process.env.PEX_AZURITE_PREFIX;
const conn = process.env.PEX_AZURITE_CONNSTR;
if (!prefix || !conn) {
	console.error('interop.js: PEX_AZURITE_PREFIX and PEX_AZURITE_CONNSTR are required');
	process.exit(2);
}
const { QueueClient } = require(path.join(prefix, 'node_modules', '@azure/storage-queue'));

async function main(argv) {
	const [cmd, queue, arg] = argv;
	const q = new QueueClient(conn, queue);
	if (cmd === 'send') {
		await q.createIfNotExists();
		await q.sendMessage(arg);
		return 0;
	}
	if (cmd === 'expect-base64') {
		const r = await q.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 30 });
		if (r.receivedMessageItems.length !== 1) {
			console.error('interop.js: no message in ' + queue);
			return 1;
		}
		const m = r.receivedMessageItems[0];
		const text = m.messageText;
		const expected = Buffer.from(arg, 'hex');
		const canonical = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
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
