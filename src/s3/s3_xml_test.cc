#include "s3/s3_xml.h"

#include <gtest/gtest.h>

namespace shale::s3 {
namespace {

TEST(S3Xml, ListV2WithNamespaceAndContinuation) {
  const std::string body =
      R"(<?xml version="1.0" encoding="UTF-8"?>)"
      R"(<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>)"
      R"(<Prefix>p/</Prefix><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>)"
      R"(<Contents><Key>p/a&amp;b</Key><LastModified>x</LastModified>)"
      R"(<ETag>&quot;abc&quot;</ETag><Size>11</Size><StorageClass>STANDARD</StorageClass></Contents>)"
      R"(<Contents><Key>p/&lt;c&gt;&#x41;&#66;</Key><ETag>"d-2"</ETag><Size>0</Size></Contents>)"
      R"(<NextContinuationToken>tok/+=</NextContinuationToken><KeyCount>2</KeyCount></ListBucketResult>)";
  ListV2Result r = parse_list_v2(body);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.next_token, "tok/+=");
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[0].key, "p/a&b");
  EXPECT_EQ(r.objects[0].size, 11u);
  EXPECT_EQ(r.objects[0].etag, "abc");
  EXPECT_EQ(r.objects[1].key, "p/<c>AB");
  EXPECT_EQ(r.objects[1].etag, "d-2");
}

TEST(S3Xml, PrefixedNamespaceAndUrlEncoding) {
  // s3rver-style odd namespace with a prefix; keys url-encoded because EncodingType=url.
  const std::string body =
      R"(<s3:ListBucketResult xmlns:s3="http://doc.s3.amazonaws.com/2006-03-01/">)"
      R"(<s3:EncodingType>url</s3:EncodingType><s3:IsTruncated>false</s3:IsTruncated>)"
      R"(<s3:Contents><s3:Key>p/%2525+sp%20ace</s3:Key><s3:Size>5</s3:Size></s3:Contents>)"
      R"(</s3:ListBucketResult>)";
  ListV2Result r = parse_list_v2(body);
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.truncated);
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].key, "p/%25 sp ace");
  EXPECT_EQ(r.objects[0].size, 5u);
}

TEST(S3Xml, ErrorsUploadIdPartsDeletes) {
  S3Error e = parse_error(
      R"(<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce</Message>)"
      R"(<RequestId>tx00-1</RequestId><HostId>h</HostId></Error>)");
  EXPECT_EQ(e.code, "SlowDown");
  EXPECT_EQ(e.message, "Please reduce");
  EXPECT_EQ(e.request_id, "tx00-1");
  // RGW's 412 has an empty, self-closed Message.
  e = parse_error(
      "<Error><Code>PreconditionFailed</Code><Message/><BucketName>b</BucketName></Error>");
  EXPECT_EQ(e.code, "PreconditionFailed");
  EXPECT_EQ(e.message, "");
  EXPECT_EQ(parse_upload_id("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                            "<UploadId>2~abc</UploadId></InitiateMultipartUploadResult>"),
            "2~abc");
  EXPECT_FALSE(parse_upload_id("<InitiateMultipartUploadResult/>").has_value());
  ListPartsResult p = parse_list_parts(
      "<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2"
      "</NextPartNumberMarker><Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag><Size>5</Size>"
      "</Part><Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag><Size>7</Size></Part>"
      "</ListPartsResult>");
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.truncated);
  EXPECT_EQ(p.next_marker, "2");
  ASSERT_EQ(p.parts.size(), 2u);
  EXPECT_EQ(p.parts[1].number, 2);
  EXPECT_EQ(p.parts[1].etag, "\"e2\"");
  EXPECT_EQ(p.parts[1].size, 7u);
  auto errs = parse_delete_errors(
      "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>"
      "<Message>no</Message></Error></DeleteResult>");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], (std::pair<std::string, std::string>{"b", "AccessDenied"}));
}

TEST(S3Xml, MalformedInputNeverCrashes) {
  for (std::string bad : {"", "<", "<<<>>>", "<ListBucketResult>", "<ListBucketResult><Contents>",
                          "<Error><Code>x", "&", "<a>&#xFFFFFFFFFF;</a>", "<!-- x",
                          "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>k"}) {
    (void)parse_list_v2(bad);
    (void)parse_error(bad);
    (void)parse_list_parts(bad);
    (void)parse_delete_errors(bad);
  }
  EXPECT_FALSE(parse_list_v2("<Other/>").ok);
  EXPECT_EQ(xml_unescape("a&bogus;b&#x41;&#;&amp"), "a&bogus;bA&#;&amp");
  EXPECT_EQ(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
  EXPECT_EQ(xml_text("<a><b>1</b><b>2</b></a>", "b"), "1");
  EXPECT_EQ(xml_elements("<a><b>1</b><c/><b>2</b></a>", "b").size(), 2u);
  EXPECT_FALSE(xml_text("<a/>", "b").has_value());
  EXPECT_EQ(unquote_etag("\"x\""), "x");
  EXPECT_EQ(unquote_etag("x"), "x");
}

}  // namespace
}  // namespace shale::s3
