#include "broker/broker.h"

#include "base/log.h"

namespace shale::broker {

Broker::Broker(BrokerConfig cfg, meta::MetaStore& meta, stream::StreamStore& store, Clock& clock)
    : cfg_(std::move(cfg)),
      store_(store),
      clock_(clock),
      control_(cfg_.control_threads),
      sessions_(cfg_.fetch_sessions),
      producer_ids_(meta) {
  TopicManagerOptions topts = cfg_.topics;
  topts.node_id = cfg_.node_id;
  topics_ = std::make_unique<TopicManager>(std::move(topts), meta, store, clock, control_);
}

Broker::~Broker() {
  stop();
}

Status Broker::start() {
  SHALE_RETURN_IF_ERROR(topics_->load());
  started_ = true;
  SHALE_LOG_INFO("broker", "node {} serving {} topics", cfg_.node_id, topics_->list().size());
  return {};
}

void Broker::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::map<std::string, std::shared_ptr<void>> gone;
    {
      std::lock_guard lk(attachments_mu_);
      attachments_closed_ = true;
      gone.swap(attachments_);
    }
  }  // attachments (the group coordinator) shut down here, while partitions are still open
  if (started_) topics_->unload();
  control_.join();
}

std::shared_ptr<void> Broker::attachment(const std::string& key,
                                         const std::function<std::shared_ptr<void>()>& make) {
  std::lock_guard lk(attachments_mu_);
  if (attachments_closed_) return nullptr;
  auto& slot = attachments_[key];
  if (!slot) slot = make();
  return slot;
}

}  // namespace shale::broker
