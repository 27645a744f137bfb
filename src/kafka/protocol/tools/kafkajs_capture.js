// Sends ApiVersions, Metadata and one Produce from kafkajs (tests/node) to kafka_capture.
// Usage: NODE_DIR=tests/node node kafkajs_capture.js HOST:PORT   (used by capture_all.sh)
const path = require('path');
const { Kafka, logLevel } = require(path.join(process.env.NODE_DIR, 'node_modules', 'kafkajs'));
(async () => {
  const kafka = new Kafka({ clientId: 'shale-capture', brokers: [process.argv[2]], logLevel: logLevel.NOTHING,
                            retry: { retries: 0 }, requestTimeout: 3000, connectionTimeout: 2000 });
  const p = kafka.producer({ allowAutoTopicCreation: false });
  await p.connect();
  await p.send({ topic: 'shaletest', messages: [{ key: 'k', value: 'v', partition: 0 }] });
  await p.disconnect();
})().catch(() => process.exit(0));
