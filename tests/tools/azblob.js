#!/usr/bin/env node
// An independent Azure Blob client for the tests: Microsoft's own SDK
// (@azure/storage-blob), so that what bucketfs writes is read back by code
// we did not write, and the other way round.
//
// Usage (AZURE_STORAGE_CONNECTION_STRING in the environment):
//   azblob.js create CONTAINER
//   azblob.js put CONTAINER KEY [META_JSON] < body
//   azblob.js get CONTAINER KEY > body
//   azblob.js head CONTAINER KEY          -> JSON {size, etag, metadata}
//   azblob.js list CONTAINER [PREFIX]      -> JSON [keys]
//   azblob.js delete CONTAINER KEY
//   azblob.js serve        JSON requests on stdin, one per line:
//       {"op": "put", "container": C, "key": K, "body": BASE64, "metadata": {..}}
//       ({"op": create|put|putfile|get|head|list|delete|sas}); one JSON answer per line:
//       {"ok": true, ...} or {"ok": false, "status": 404, "error": "..."}
// Exit status 2 for a missing blob or container, 1 for other errors.
"use strict";

const {
	BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential,
	generateBlobSASQueryParameters,
} = require("@azure/storage-blob");

async function readStdin() {
	const chunks = [];
	for await (const c of process.stdin) chunks.push(c);
	return Buffer.concat(chunks);
}

async function op(service, r) {
	const c = service.getContainerClient(r.container);
	switch (r.op) {
	case "create":
		await c.createIfNotExists();
		return {};
	case "put": {
		const body = Buffer.from(r.body || "", "base64");
		await c.getBlockBlobClient(r.key).upload(body, body.length,
			{ metadata: r.metadata || undefined });
		return {};
	}
	case "putfile": // r.path on local disk, uploaded in parallel blocks
		await c.getBlockBlobClient(r.key).uploadFile(r.path);
		return {};
	case "get":
		return { body: (await c.getBlobClient(r.key).downloadToBuffer()).toString("base64") };
	case "head": {
		const p = await c.getBlobClient(r.key).getProperties();
		return { size: p.contentLength, etag: p.etag, metadata: p.metadata,
			mtime: p.lastModified.getTime() / 1000 };
	}
	case "list": {
		const keys = [];
		for await (const b of c.listBlobsFlat({ prefix: r.prefix || "" })) keys.push(b.name);
		return { keys };
	}
	case "delete":
		await c.getBlobClient(r.key).delete();
		return {};
	case "sas": {
		// A container SAS signed by the SDK: r.permissions ("racwdl"),
		// r.seconds of life (negative: already expired).
		const cred = service.credential;
		if (!(cred instanceof StorageSharedKeyCredential))
			throw new Error("sas needs an account key");
		const sas = generateBlobSASQueryParameters({
			containerName: r.container,
			permissions: ContainerSASPermissions.parse(r.permissions || "racwdl"),
			startsOn: new Date(Date.now() - 60000),
			expiresOn: new Date(Date.now() + (r.seconds || 3600) * 1000),
		}, cred);
		return { sas: sas.toString() };
	}
	default:
		throw new Error(`unknown op ${r.op}`);
	}
}

async function serve(service) {
	const readline = require("readline");
	const rl = readline.createInterface({ input: process.stdin });
	for await (const line of rl) {
		let answer;
		try {
			answer = { ok: true, ...(await op(service, JSON.parse(line))) };
		} catch (e) {
			answer = { ok: false, status: e.statusCode || 0, error: e.message };
		}
		process.stdout.write(JSON.stringify(answer) + "\n");
	}
}

async function main() {
	const [cmd, container, key, meta] = process.argv.slice(2);
	const service = BlobServiceClient.fromConnectionString(
		process.env.AZURE_STORAGE_CONNECTION_STRING);
	if (cmd === "serve")
		return serve(service);
	const c = service.getContainerClient(container);
	switch (cmd) {
	case "create":
		await c.createIfNotExists();
		break;
	case "put": {
		const body = await readStdin();
		await c.getBlockBlobClient(key).upload(body, body.length,
			{ metadata: meta ? JSON.parse(meta) : undefined });
		break;
	}
	case "get":
		process.stdout.write(await c.getBlobClient(key).downloadToBuffer());
		break;
	case "head": {
		const p = await c.getBlobClient(key).getProperties();
		process.stdout.write(JSON.stringify(
			{ size: p.contentLength, etag: p.etag, metadata: p.metadata }));
		break;
	}
	case "list": {
		const keys = [];
		for await (const b of c.listBlobsFlat({ prefix: key || "" })) keys.push(b.name);
		process.stdout.write(JSON.stringify(keys));
		break;
	}
	case "delete":
		await c.getBlobClient(key).delete();
		break;
	default:
		throw new Error(`unknown command ${cmd}`);
	}
}

main().catch((e) => {
	process.stderr.write(`azblob: ${e.message}\n`);
	process.exit(e.statusCode === 404 ? 2 : 1);
});
