// The conformance suite against the embedded store (make_mem_meta): the reference semantics.
#include "etcd/conformance_suite.h"
#include "meta/embedded_meta_store.h"

namespace shale::etcd {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Embedded, MetaConformance,
    ::testing::Values(StoreFactory{
        "mem", [] { return std::unique_ptr<meta::MetaStore>(meta::make_mem_meta()); }}),
    factory_name);

}  // namespace
}  // namespace shale::etcd
