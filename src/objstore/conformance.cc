// The ObjectStore conformance cases (see conformance.h). Compiled into each test binary that
// instantiates the suite.
#include "objstore/conformance.h"

#include <algorithm>
#include <atomic>
#include <thread>

namespace shale::objstore {

void ObjectStoreConformance::SetUp() {
  auto s = GetParam().make();
  ASSERT_TRUE(s.ok()) << GetParam().name << ": " << s.error().to_string();
  ASSERT_TRUE(*s != nullptr);
  store_ = std::move(*s);
}

std::string ObjectStoreConformance::get_all(const std::string& key) {
  auto r = s().get(key);
  EXPECT_TRUE(r.ok()) << key << ": " << r.error().to_string();
  return r.ok() ? std::string(r->data.view()) : std::string();
}

std::vector<std::string> ObjectStoreConformance::keys(const std::string& prefix) {
  std::vector<std::string> out;
  auto page = s().list(prefix);
  if (!page.ok()) return {"<list failed>"};
  for (const auto& o : page->objects) out.push_back(o.key);
  return out;
}

std::string conformance_target_name(const ::testing::TestParamInfo<ConformanceTarget>& info) {
  return info.param.name;
}

TEST_P(ObjectStoreConformance, PutGetHead) {
  ASSERT_TRUE(s().put("a/b/c.obj", {Buf::copy("hello "), Buf::copy("world")}).ok());
  EXPECT_EQ(get_all("a/b/c.obj"), "hello world");
  auto h = s().head("a/b/c.obj");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size, 11u);
  EXPECT_EQ(h->key, "a/b/c.obj");
  EXPECT_EQ(h->etag, GetParam().etag_of("hello world"));
  EXPECT_EQ(s().get("a/b/missing").code(), Errc::kNotFound);
  EXPECT_EQ(s().head("a/b/missing").code(), Errc::kNotFound);
  // Overwrite replaces.
  ASSERT_TRUE(s().put("a/b/c.obj", Buf::copy("v2")).ok());
  EXPECT_EQ(get_all("a/b/c.obj"), "v2");
  // Empty objects exist.
  ASSERT_TRUE(s().put("empty", std::vector<Buf>{}).ok());
  EXPECT_EQ(s().get("empty")->object_size, 0u);
  EXPECT_EQ(s().put("", Buf::copy("x")).code(), Errc::kInvalidArgument);
}

TEST_P(ObjectStoreConformance, Ranges) {
  ASSERT_TRUE(s().put("r", Buf::copy("0123456789")).ok());
  auto g = s().get("r", ByteRange::at(2, 3));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->data.view(), "234");
  EXPECT_EQ(g->object_size, 10u);
  EXPECT_EQ(s().get("r", ByteRange::at(7, 100))->data.view(), "789");  // cut at the end
  EXPECT_EQ(s().get("r", ByteRange::at(4, ByteRange::kToEnd))->data.view(), "456789");
  EXPECT_EQ(s().get("r", ByteRange::last(4))->data.view(), "6789");
  EXPECT_EQ(s().get("r", ByteRange::last(4))->object_size, 10u);
  EXPECT_EQ(s().get("r", ByteRange::last(40))->data.view(), "0123456789");
  EXPECT_EQ(s().get("r", ByteRange::at(10, 1)).code(), Errc::kOutOfRange);
  EXPECT_EQ(s().get("r", ByteRange::at(11, 1)).code(), Errc::kOutOfRange);
  EXPECT_EQ(s().get("r", ByteRange::at(3, 0))->data.size(), 0u);
  EXPECT_EQ(s().get("missing", ByteRange::at(0, 1)).code(), Errc::kNotFound);
}

TEST_P(ObjectStoreConformance, ConditionalPut) {
  ASSERT_TRUE(s().capabilities().conditional_put);
  PutOptions once{.if_none_match = true};
  ASSERT_TRUE(s().put("c", Buf::copy("first"), once).ok());
  EXPECT_EQ(s().put("c", Buf::copy("second"), once).code(), Errc::kAlreadyExists);
  EXPECT_EQ(get_all("c"), "first");
  EXPECT_EQ(keys(""), (std::vector<std::string>{"c"}));  // no leftovers visible
}

TEST_P(ObjectStoreConformance, RacingConditionalPutsHaveOneWinner) {
  for (int round = 0; round < 5; ++round) {
    const std::string key = fmt::format("race/{}", round);
    std::atomic<int> wins{0}, lost{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        Status st = s().put(key, Buf::copy(fmt::format("w{}", t)), {.if_none_match = true});
        if (st.ok()) ++wins;
        if (st.code() == Errc::kAlreadyExists) ++lost;
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(lost.load(), 3);
  }
}

TEST_P(ObjectStoreConformance, ListSortedWithPrefixAndPages) {
  // Byte order: '%' < '-' < '.' < '/' < '0' < 'A' < '_' < 'a'; escaping must not change it.
  std::vector<std::string> all = {"p/a", "p/a/b", "p/a-b", "p/a.b",    "p/a0",
                                  "p/A", "p/_x",  "p/%25", "p/sp ace", "q/other"};
  for (const auto& k : all) ASSERT_TRUE(s().put(k, Buf::copy(k)).ok()) << k;
  std::vector<std::string> expect(all.begin(), all.end() - 1);
  std::sort(expect.begin(), expect.end());
  EXPECT_EQ(keys("p/"), expect);
  std::vector<std::string> paged;
  std::string token;
  int pages = 0;
  do {
    auto page = s().list("p/", token, 3);
    ASSERT_TRUE(page.ok());
    EXPECT_LE(page->objects.size(), 3u);
    for (const auto& o : page->objects) {
      paged.push_back(o.key);
      EXPECT_EQ(o.size, o.key.size());
    }
    token = page->next_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(paged, expect);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(keys("p/a"), (std::vector<std::string>{"p/a", "p/a-b", "p/a.b", "p/a/b", "p/a0"}));
  EXPECT_TRUE(keys("zzz").empty());
}

TEST_P(ObjectStoreConformance, RemoveIsIdempotent) {
  ASSERT_TRUE(s().put("x/1", Buf::copy("1")).ok());
  ASSERT_TRUE(s().put("x/2", Buf::copy("2")).ok());
  ASSERT_TRUE(s().remove({"x/1", "x/missing"}).ok());
  EXPECT_EQ(s().get("x/1").code(), Errc::kNotFound);
  EXPECT_EQ(keys("x/"), (std::vector<std::string>{"x/2"}));
  ASSERT_TRUE(s().remove({"x/1"}).ok());
  ASSERT_TRUE(s().remove({}).ok());
}

TEST_P(ObjectStoreConformance, MultipartAssemblesInOrder) {
  auto id = s().begin_multipart("big");
  ASSERT_TRUE(id.ok());
  const size_t min_part = GetParam().min_part_size;
  std::string p1(std::max<size_t>(1000, min_part), 'a'),
      p2(std::max<size_t>(700, min_part + 7), 'b');
  std::string p3 = "tail";
  ASSERT_TRUE(s().upload_part("big", *id, 3, Buf::copy(p3)).ok());
  ASSERT_TRUE(s().upload_part("big", *id, 1, Buf::copy("replaced")).ok());
  ASSERT_TRUE(s().upload_part("big", *id, 2, Buf::copy(p2)).ok());
  ASSERT_TRUE(s().upload_part("big", *id, 1, Buf::copy(p1)).ok());  // re-upload wins
  EXPECT_EQ(s().get("big").code(), Errc::kNotFound);                // invisible until complete
  EXPECT_TRUE(keys("").empty());
  ASSERT_TRUE(s().complete_multipart("big", *id, 3).ok());
  EXPECT_TRUE(get_all("big") == p1 + p2 + p3);  // (not EXPECT_EQ: megabytes on failure)
  EXPECT_EQ(s().complete_multipart("big", *id, 3).code(), Errc::kNotFound);  // finished
}

TEST_P(ObjectStoreConformance, MultipartErrors) {
  auto id = s().begin_multipart("m");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(s().upload_part("m", *id, 1, Buf::copy("one")).ok());
  EXPECT_EQ(s().complete_multipart("m", *id, 2).code(), Errc::kInvalidArgument);  // part 2 missing
  EXPECT_EQ(s().upload_part("m", *id, 0, Buf::copy("x")).code(), Errc::kInvalidArgument);
  EXPECT_EQ(s().upload_part("m", "nope", 1, Buf::copy("x")).code(), Errc::kNotFound);
  EXPECT_FALSE(s().upload_part("other", *id, 1, Buf::copy("x")).ok());
  ASSERT_TRUE(s().abort_multipart("m", *id).ok());
  EXPECT_EQ(s().upload_part("m", *id, 1, Buf::copy("x")).code(), Errc::kNotFound);
  EXPECT_EQ(s().abort_multipart("m", *id).code(), Errc::kNotFound);
  EXPECT_EQ(s().get("m").code(), Errc::kNotFound);
}

}  // namespace shale::objstore
