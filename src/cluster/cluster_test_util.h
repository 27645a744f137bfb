// Test helpers shared by the cluster tests: one broker process (Member) over a shared World.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "broker/broker.h"
#include "cluster/cluster_node.h"
#include "cluster/membership.h"
#include "kafka/records/records.h"
#include "stream/stream_test_util.h"

namespace shale::cluster::testing {

inline Buf batch(int n) {
  kafka::records::BatchBuilder b(kafka::records::BatchBuilder::Options{});
  for (int i = 0; i < n; ++i) b.add("k", std::string(50, 'a' + i % 26), 1000 + i);
  return b.build();
}

// One broker process: stream store + Broker (cluster mode) + Membership + ClusterNode.
struct Member {
  // wal_fs: where this member's WAL lives (default: the world's disk).
  Member(stream::testing::World& w, int32_t id, io::Filesystem* wal_fs = nullptr) {
    node = std::make_unique<stream::testing::Node>(wal_fs ? *wal_fs : w.fs,
                                                   stream::testing::small_options(), NodeId(id),
                                                   "/wal" + std::to_string(id));
    EXPECT_TRUE(node->boot(*w.objects, *w.meta, w.clock).ok());
    membership = std::make_unique<Membership>(
        *w.meta, MembershipOptions{{id, "127.0.0.1", 9000 + id, "r1"}, std::chrono::seconds(30)});
    EXPECT_TRUE(membership->start().ok());
    broker::BrokerConfig bc;
    bc.node_id = NodeId(id);
    bc.topics.open_all = false;
    bc.topics.serving_guard = [m = membership.get()] { return m->serving(); };
    broker = std::make_unique<broker::Broker>(bc, *w.meta, node->store(), w.clock);
    EXPECT_TRUE(broker->start().ok());
    agent = std::make_unique<ClusterNode>(*w.meta, *membership, broker->topics(),
                                          ClusterNodeOptions{.balance = false});
  }
  ~Member() {
    agent.reset();
    broker.reset();
    membership.reset();
  }
  std::shared_ptr<broker::Partition> part(int i) { return part("t", i); }
  std::shared_ptr<broker::Partition> part(const std::string& t, int i) {
    return broker->topics().partition(t, i);
  }

  std::unique_ptr<stream::testing::Node> node;
  std::unique_ptr<Membership> membership;
  std::unique_ptr<broker::Broker> broker;
  std::unique_ptr<ClusterNode> agent;
};

}  // namespace shale::cluster::testing
