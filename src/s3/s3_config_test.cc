#include "s3/s3_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "io/test_util.h"

namespace shale::s3 {
namespace {

TEST(S3Config, ParsesUri) {
  auto c = parse_s3_uri(
      "s3://bkt/some/prefix?endpoint=http://127.0.0.1:7480/&region=eu-west-1&path_style=true"
      "&access_key=AK&secret_key=S%2Fk&max_attempts=3&unsigned_payload=1&probe=false");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->bucket, "bkt");
  EXPECT_EQ(c->prefix, "some/prefix/");
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_TRUE(c->path_style);
  EXPECT_TRUE(c->unsigned_payload);
  EXPECT_FALSE(c->probe);
  EXPECT_EQ(c->retry.max_attempts, 3);
  EXPECT_EQ(c->creds.access_key, "AK");
  EXPECT_EQ(c->creds.secret_key, "S/k");
  EXPECT_EQ(c->describe().find("S/k"), std::string::npos);  // never printed
  EXPECT_NE(c->describe().find("AK"), std::string::npos);

  auto aws = parse_s3_uri("s3://b?region=us-west-2&access_key=a&secret_key=b");
  ASSERT_TRUE(aws.ok());
  EXPECT_EQ(aws->endpoint, "https://s3.us-west-2.amazonaws.com");
  EXPECT_FALSE(aws->path_style);  // AWS default: virtual-host style
  EXPECT_EQ(aws->prefix, "");

  for (const char* bad : {"s3://", "file:///x", "s3://b?bogus=1&access_key=a&secret_key=b",
                          "s3://b?path_style=maybe&access_key=a&secret_key=b",
                          "s3://b?endpoint=ftp://x&access_key=a&secret_key=b",
                          "s3://b?part_size=10&access_key=a&secret_key=b"}) {
    EXPECT_EQ(parse_s3_uri(bad).code(), Errc::kInvalidArgument) << bad;
  }
}

TEST(S3Config, CredentialsFromEnvThenFile) {
  io::TempDir tmp;
  const std::string file = tmp.path() + "/credentials";
  std::ofstream(file) << "[default]\naws_access_key_id = DK\naws_secret_access_key = DS\n"
                         "# comment\n[profile other]\naws_access_key_id=OK\n"
                         "aws_secret_access_key=OS\naws_session_token=OT\n";
  unsetenv("AWS_PROFILE");
  setenv("AWS_SHARED_CREDENTIALS_FILE", file.c_str(), 1);
  setenv("AWS_ACCESS_KEY_ID", "EK", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "ES", 1);
  setenv("AWS_SESSION_TOKEN", "ET", 1);
  auto c = parse_s3_uri("s3://b");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->creds.access_key, "EK");
  EXPECT_EQ(c->creds.session_token, "ET");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_SESSION_TOKEN");
  c = parse_s3_uri("s3://b");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->creds.access_key, "DK");
  EXPECT_EQ(c->creds.secret_key, "DS");
  c = parse_s3_uri("s3://b?profile=other");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->creds.access_key, "OK");
  EXPECT_EQ(c->creds.session_token, "OT");
  EXPECT_EQ(parse_s3_uri("s3://b?profile=missing").code(), Errc::kInvalidArgument);
  setenv("AWS_SHARED_CREDENTIALS_FILE", (tmp.path() + "/nope").c_str(), 1);
  EXPECT_EQ(parse_s3_uri("s3://b").code(), Errc::kInvalidArgument);
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}

TEST(S3Config, ConfiguredCredentialsWinOverEnvAndFileOverridesTheDefaultFile) {
  io::TempDir tmp;
  const std::string file = tmp.path() + "/creds";
  std::ofstream(file) << "[default]\naws_access_key_id = FK\naws_secret_access_key = FS\n";
  unsetenv("AWS_PROFILE");
  setenv("AWS_SHARED_CREDENTIALS_FILE", (tmp.path() + "/nope").c_str(), 1);
  setenv("AWS_ACCESS_KEY_ID", "EK", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "ES", 1);
  CredentialSources src;
  src.configured = {"CK", "CS", "CT"};
  auto c = parse_s3_uri("s3://b", src);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->creds.access_key, "CK");
  EXPECT_EQ(c->creds.session_token, "CT");
  c = parse_s3_uri("s3://b?access_key=UK&secret_key=US", src);  // the URI still wins
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->creds.access_key, "UK");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(parse_s3_uri("s3://b").code(), Errc::kInvalidArgument);
  c = parse_s3_uri("s3://b", {.credentials_file = file});
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->creds.access_key, "FK");
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}

TEST(RetryPolicy, FullJitterBackoffIsBoundedAndGrows) {
  RetryPolicy p;
  std::mt19937_64 rng(7);
  for (int n = 1; n < 30; ++n) {
    uint32_t ceil = std::min<uint64_t>(p.cap_ms, uint64_t{p.base_ms} << std::min(n - 1, 20));
    uint32_t mx = 0;
    for (int i = 0; i < 200; ++i) {
      uint32_t b = p.backoff_ms(n, rng);
      EXPECT_LE(b, ceil);
      mx = std::max(mx, b);
    }
    EXPECT_GT(mx, ceil / 2) << n;  // really spreads up to the ceiling
  }
  EXPECT_TRUE(RetryPolicy::retryable_status(0));
  EXPECT_TRUE(RetryPolicy::retryable_status(503));
  EXPECT_TRUE(RetryPolicy::retryable_status(500));
  EXPECT_TRUE(RetryPolicy::retryable_status(429));
  EXPECT_FALSE(RetryPolicy::retryable_status(404));
  EXPECT_FALSE(RetryPolicy::retryable_status(412));
  EXPECT_FALSE(RetryPolicy::retryable_status(403));
}

}  // namespace
}  // namespace shale::s3
