// A kafkajs 2.2.4 group consumer: joins GROUP on TOPIC, consumes until it has COUNT messages,
// commits them, then reports what it got and what the group committed.
// Usage: node group.js BOOTSTRAP TOPIC GROUP COUNT
//   -> one JSON object on stdout: {values: [...], committed: [[partition, offset], ...],
//      memberCount: n}
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, groupId, countArg] = process.argv.slice(2);
const count = Number(countArg);
const kafka = new Kafka({ clientId: 'shale-group', brokers: [bootstrap], logLevel: logLevel.NOTHING,
  retry: { retries: 5 } });

async function main() {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout: ${values.length}/${count}`)), 60000);
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        values.push(message.value.toString());
        await consumer.commitOffsets([{ topic, partition,
          offset: (BigInt(message.offset) + 1n).toString() }]);
        if (values.length >= count) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  const admin = kafka.admin();
  await admin.connect();
  const desc = await admin.describeGroups([groupId]);
  const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
  await admin.disconnect();
  await consumer.disconnect();
  process.stdout.write(JSON.stringify({
    values,
    committed: offsets[0].partitions.map((p) => [p.partition, Number(p.offset)])
      .sort((a, b) => a[0] - b[0]),
    memberCount: desc.groups[0].members.length,
  }));
}

main().catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
