// SigV4 against the worked examples in AWS's "Signature Calculations for the Authorization
// Header" S3 documentation (examplebucket, 20130524T000000Z, us-east-1).
#include "s3/sigv4.h"

#include <gtest/gtest.h>

namespace shale::s3 {
namespace {

const Credentials kCreds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr char kDate[] = "20130524T000000Z";
constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kScope[] = "20130524/us-east-1/s3/aws4_request";

SignRequest base(std::string method, std::string uri) {
  SignRequest r;
  r.method = std::move(method);
  r.canonical_uri = std::move(uri);
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"x-amz-date", kDate},
               {"x-amz-content-sha256", kEmptySha}};
  r.payload_hash = kEmptySha;
  return r;
}

TEST(SigV4, AwsGetObjectExample) {
  SignRequest r = base("GET", "/test.txt");
  r.headers.emplace_back("Range", "bytes=0-9");
  std::string names;
  const std::string creq = canonical_request(r, &names);
  EXPECT_EQ(
      creq,
      "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(string_to_sign(kDate, kScope, creq),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(authorization(kCreds, "us-east-1", "s3", kDate, r),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, AwsPutObjectExample) {
  const std::string body = "Welcome to Amazon S3.";
  const std::string sha = sha256_hex(body);
  EXPECT_EQ(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SignRequest r = base("PUT", std::string("/").append(uri_encode("test$file.text", true)));
  EXPECT_EQ(r.canonical_uri, "/test%24file.text");
  r.headers[2].second = sha;
  r.headers.emplace_back("Date", "Fri, 24 May 2013 00:00:00 GMT");
  r.headers.emplace_back("x-amz-storage-class", "REDUCED_REDUNDANCY");
  r.payload_hash = sha;
  EXPECT_EQ(authorization(kCreds, "us-east-1", "s3", kDate, r),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, AwsGetBucketLifecycleExample) {
  SignRequest r = base("GET", "/");
  r.query = {{"lifecycle", ""}};
  EXPECT_NE(canonical_request(r, nullptr).find("\n/\nlifecycle=\n"), std::string::npos);
  EXPECT_NE(authorization(kCreds, "us-east-1", "s3", kDate, r)
                .find("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
            std::string::npos);
}

TEST(SigV4, AwsListObjectsExampleSortsQuery) {
  SignRequest r = base("GET", "/");
  r.query = {{"prefix", "J"}, {"max-keys", "2"}};  // given unsorted
  EXPECT_EQ(canonical_query(r.query), "max-keys=2&prefix=J");
  EXPECT_NE(authorization(kCreds, "us-east-1", "s3", kDate, r)
                .find("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
            std::string::npos);
  // A different secret gives a different signature.
  Credentials other = kCreds;
  other.secret_key.back() = 'X';
  EXPECT_EQ(authorization(other, "us-east-1", "s3", kDate, r)
                .find("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
            std::string::npos);
}

TEST(SigV4, EncodingAndHeaderCanonicalisation) {
  EXPECT_EQ(uri_encode("a b/c~d_e.f-g%+=&", true), "a%20b/c~d_e.f-g%25%2B%3D%26");
  EXPECT_EQ(uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(uri_encode("\xff", false), "%FF");
  EXPECT_EQ(uri_decode("a%20b%2Fc%zz%4"), "a b/c%zz%4");
  EXPECT_EQ(uri_decode(uri_encode("p/%25 \x01", false)), "p/%25 \x01");
  // Query values are encoded (space as %20, '/' as %2F), empty values keep '='.
  EXPECT_EQ(canonical_query({{"prefix", "a b/"}, {"delete", ""}}), "delete=&prefix=a%20b%2F");
  SignRequest r{"GET", "/", {}, {}, ""};
  r.headers.emplace_back("X-Amz-Meta-A", "  two   spaces  ");
  r.headers.emplace_back("x-amz-meta-a", "second");
  std::string names;
  EXPECT_EQ(canonical_request(r, &names),
            "GET\n/\n\nx-amz-meta-a:two spaces,second\n\nx-amz-meta-a\n");
  EXPECT_EQ(names, "x-amz-meta-a");
  EXPECT_EQ(md5_base64(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(amz_date_now().size(), 16u);
}

}  // namespace
}  // namespace shale::s3
