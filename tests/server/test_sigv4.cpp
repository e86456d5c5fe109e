// SigV4 (server/sigv4.h) checked against AWS's published worked examples, value for value: canonical
// requests, strings to sign and signatures. A signer that only agrees with itself proves nothing; one that
// reproduces these will be accepted by S3 and the S3-compatible stores.
//
// Sources (the example key AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, bucket
// examplebucket, 20130524T000000Z, us-east-1):
//  - header signing, "Examples: Signature Calculations" (GET Object, PUT Object, GET Bucket Lifecycle,
//    Get Bucket (List Objects)):
//    https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
//  - the presigned URL example ("Authenticating Requests: Using Query Parameters", An Example):
//    https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
//  - the generic SigV4 test suite (get-vanilla-query-order-key-case, key AKIDEXAMPLE, service "service"):
//    https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html
// The expected values were also cross-checked against several independent public implementations' tests.
#include <gtest/gtest.h>

#include "core/error.h"
#include "server/sigv4.h"

namespace {

using namespace tc::server::sigv4;

const Credentials kExample{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr std::time_t k20130524 = 1369353600;  // 2013-05-24T00:00:00Z
const std::string kEmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const Scope kScope{"20130524", "us-east-1", "s3"};

std::string signature_of(const std::string& authorization) {
    const auto at = authorization.find("Signature=");
    return at == std::string::npos ? "" : authorization.substr(at + 10);
}

TEST(SigV4, Primitives) {
    EXPECT_EQ(sha256_hex(""), kEmptySha);
    EXPECT_EQ(sha256_hex("Welcome to Amazon S3."), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    // RFC 4231 test case 2.
    EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(amz_date(k20130524), "20130524T000000Z");
    EXPECT_EQ(amz_date(1440938160), "20150830T123600Z");
    EXPECT_EQ(uri_encode("test$file.text"), "test%24file.text");
    EXPECT_EQ(uri_encode("a b/c~d_e-f.g"), "a%20b%2Fc~d_e-f.g");
    EXPECT_EQ(uri_encode("a b/c", false), "a%20b/c");
    EXPECT_EQ(uri_encode("\xc3\xa9+=&"), "%C3%A9%2B%3D%26");
    EXPECT_EQ(canonical_query({{"prefix", "J"}, {"max-keys", "2"}}), "max-keys=2&prefix=J");
    EXPECT_EQ(canonical_query({{"lifecycle", ""}}), "lifecycle=");
}

// GET Object: the first 10 bytes of test.txt, body hash of the empty string.
TEST(SigV4, AwsExampleGetObject) {
    Request r{"GET", "/test.txt", {}, {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}}, kEmptySha};
    const std::string auth = sign_headers(r, kExample, "us-east-1", "s3", k20130524);
    EXPECT_EQ(canonical_request(r),
              "GET\n"
              "/test.txt\n"
              "\n"
              "host:examplebucket.s3.amazonaws.com\n"
              "range:bytes=0-9\n"
              "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
              "x-amz-date:20130524T000000Z\n"
              "\n"
              "host;range;x-amz-content-sha256;x-amz-date\n"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(string_to_sign("20130524T000000Z", kScope, canonical_request(r)),
              "AWS4-HMAC-SHA256\n"
              "20130524T000000Z\n"
              "20130524/us-east-1/s3/aws4_request\n"
              "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    EXPECT_EQ(auth,
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
              "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// PUT Object: test$file.text (the '$' is encoded once in the canonical URI) with a body and extra headers.
TEST(SigV4, AwsExamplePutObject) {
    Request r{"PUT",
              "/" + uri_encode("test$file.text", false),
              {},
              {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
              sha256_hex("Welcome to Amazon S3.")};
    const std::string auth = sign_headers(r, kExample, "us-east-1", "s3", k20130524);
    EXPECT_EQ(canonical_request(r),
              "PUT\n"
              "/test%24file.text\n"
              "\n"
              "date:Fri, 24 May 2013 00:00:00 GMT\n"
              "host:examplebucket.s3.amazonaws.com\n"
              "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
              "x-amz-date:20130524T000000Z\n"
              "x-amz-storage-class:REDUCED_REDUNDANCY\n"
              "\n"
              "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
              "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    EXPECT_EQ(string_to_sign("20130524T000000Z", kScope, canonical_request(r)),
              "AWS4-HMAC-SHA256\n"
              "20130524T000000Z\n"
              "20130524/us-east-1/s3/aws4_request\n"
              "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
    EXPECT_EQ(auth,
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
              "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
              "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

// GET Bucket Lifecycle: a query parameter without a value.
TEST(SigV4, AwsExampleGetBucketLifecycle) {
    Request r{"GET", "/", {{"lifecycle", ""}}, {{"Host", "examplebucket.s3.amazonaws.com"}}, kEmptySha};
    const std::string auth = sign_headers(r, kExample, "us-east-1", "s3", k20130524);
    EXPECT_NE(canonical_request(r).find("\n/\nlifecycle=\n"), std::string::npos);
    EXPECT_EQ(signature_of(auth), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

// Get Bucket (List Objects): parameters given out of order are sorted.
TEST(SigV4, AwsExampleListObjects) {
    Request r{"GET", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {{"Host", "examplebucket.s3.amazonaws.com"}}, kEmptySha};
    const std::string auth = sign_headers(r, kExample, "us-east-1", "s3", k20130524);
    EXPECT_NE(canonical_request(r).find("\n/\nmax-keys=2&prefix=J\n"), std::string::npos);
    EXPECT_EQ(signature_of(auth), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// The presigned GET of test.txt valid for 86400 s.
TEST(SigV4, AwsExamplePresignedUrl) {
    const std::string q =
        presign_query("GET", "/test.txt", "examplebucket.s3.amazonaws.com", {}, kExample, "us-east-1", "s3", k20130524, 86400);
    EXPECT_EQ("https://examplebucket.s3.amazonaws.com/test.txt?" + q,
              "https://examplebucket.s3.amazonaws.com/test.txt"
              "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
              "&X-Amz-Date=20130524T000000Z"
              "&X-Amz-Expires=86400"
              "&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    // The canonical request the example prints.
    Request r{"GET",
              "/test.txt",
              {{"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
               {"X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"},
               {"X-Amz-Date", "20130524T000000Z"},
               {"X-Amz-Expires", "86400"},
               {"X-Amz-SignedHeaders", "host"}},
              {{"host", "examplebucket.s3.amazonaws.com"}},
              "UNSIGNED-PAYLOAD"};
    EXPECT_EQ(canonical_request(r),
              "GET\n"
              "/test.txt\n"
              "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
              "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
              "host:examplebucket.s3.amazonaws.com\n"
              "\n"
              "host\n"
              "UNSIGNED-PAYLOAD");
}

// The generic SigV4 test suite: another key, region-less service name, no x-amz-content-sha256 header.
TEST(SigV4, AwsTestSuiteGetVanillaQueryOrder) {
    const Credentials c{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
    Request r{"GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}}, {{"Host", "example.amazonaws.com"}}, kEmptySha};
    const std::string auth = sign_headers(r, c, "us-east-1", "service", 1440938160);
    EXPECT_EQ(auth,
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,"
              "SignedHeaders=host;x-amz-date,"
              "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4, SessionTokenIsSignedAndSecretNeverAppears) {
    const Credentials c{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "tok/en+="};
    Request r{"GET", "/b/k", {}, {{"host", "127.0.0.1:9000"}}, kEmptySha};
    const std::string auth = sign_headers(r, c, "us-east-1", "s3", k20130524);
    EXPECT_NE(auth.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"), std::string::npos);
    EXPECT_EQ(auth.find(c.secret_access_key), std::string::npos);
    const std::string q = presign_query("GET", "/b/k", "127.0.0.1:9000", {}, c, "us-east-1", "s3", k20130524, 60);
    EXPECT_NE(q.find("X-Amz-Security-Token=tok%2Fen%2B%3D"), std::string::npos);
    EXPECT_EQ(q.find("wJalrXUtnFEMI"), std::string::npos);
    // A different token changes the signature (it is part of what is signed).
    const Credentials c2{c.access_key_id, c.secret_access_key, "other"};
    auto sig = [](const std::string& query) { return query.substr(query.find("X-Amz-Signature=") + 16); };
    EXPECT_EQ(sig(q).size(), 64u);
    EXPECT_NE(sig(q), sig(presign_query("GET", "/b/k", "127.0.0.1:9000", {}, c2, "us-east-1", "s3", k20130524, 60)));
}

TEST(SigV4, PresignLifetimeIsBounded) {
    EXPECT_THROW(presign_query("GET", "/k", "h", {}, kExample, "us-east-1", "s3", k20130524, 0), tc::Error);
    EXPECT_THROW(presign_query("GET", "/k", "h", {}, kExample, "us-east-1", "s3", k20130524, 604801), tc::Error);
    EXPECT_NO_THROW(presign_query("GET", "/k", "h", {}, kExample, "us-east-1", "s3", k20130524, 604800));
}

}  // namespace
