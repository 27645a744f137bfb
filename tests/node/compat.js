// kafkajs 2.2.4 against a Shale broker: admin create/describe/delete topics, produce with headers
// and null keys, consume from the beginning, and the codecs kafkajs supports without plugins
// (none, gzip; snappy/lz4/zstd need third-party codec packages, which are not installed).
// Usage: node compat.js BOOTSTRAP   -> prints one JSON object of observations on stdout.
'use strict';
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const bootstrap = process.argv[2];
const kafka = new Kafka({ clientId: 'shale-compat', brokers: [bootstrap], logLevel: logLevel.NOTHING,
  retry: { retries: 3 } });

function bufOrNull(b) { return b === null ? null : b.toString('binary'); }

async function consumeAll(topic, count, groupId) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout: ${got.length}/${count}`)), 30000);
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers = {};
        for (const [k, v] of Object.entries(message.headers || {})) headers[k] = bufOrNull(v);
        got.push({ partition, offset: Number(message.offset), key: bufOrNull(message.key),
          value: bufOrNull(message.value), headers });
        if (got.length >= count) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  return got;
}

async function main() {
  const out = {};
  const admin = kafka.admin();
  await admin.connect();
  out.created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: 'js-none', numPartitions: 1 },
      { topic: 'js-gzip', numPartitions: 1 },
      { topic: 'js-multi', numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '3600000' }] },
      { topic: 'js-doomed', numPartitions: 1 },
    ],
  });
  out.createdAgain = await admin.createTopics({ topics: [{ topic: 'js-none' }] });
  const md = await admin.fetchTopicMetadata({ topics: ['js-multi'] });
  out.multiPartitions = md.topics[0].partitions.map((p) => p.partitionId).sort();
  const cfg = await admin.describeConfigs({ includeSynonyms: false,
    resources: [{ type: 2 /* TOPIC */, name: 'js-multi', configNames: ['retention.ms'] }] });
  out.multiRetention = cfg.resources[0].configEntries.map((e) => [e.configName, e.configValue]);

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  out.codecs = {};
  for (const [topic, codec] of [['js-none', CompressionTypes.None], ['js-gzip', CompressionTypes.GZIP]]) {
    const messages = [];
    for (let i = 0; i < 50; i++) {
      messages.push({ key: i % 3 === 0 ? null : `k${i}`, value: `v${i}-${'x'.repeat(i * 10)}`,
        headers: i % 2 ? { h1: `a${i}`, bin: Buffer.from([0, 255, i]) } : undefined });
    }
    const acks = await producer.send({ topic, compression: codec, acks: -1, messages });
    const got = await consumeAll(topic, messages.length, `g-${topic}`);
    out.codecs[topic] = { acks: acks.map((a) => [a.partition, a.errorCode, Number(a.baseOffset)]),
      got };
  }
  // Tombstone: null value with a key.
  await producer.send({ topic: 'js-multi', messages: [{ key: 'dead', value: null, partition: 1 }] });
  out.tombstone = (await consumeAll('js-multi', 1, 'g-multi'))[0];
  await producer.disconnect();

  const offs = await admin.fetchTopicOffsets('js-none');
  out.noneOffsets = offs.map((o) => [o.partition, o.low, o.high]);
  await admin.deleteTopics({ topics: ['js-doomed'], timeout: 10000 });
  out.afterDelete = (await admin.listTopics()).sort();
  await admin.disconnect();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
