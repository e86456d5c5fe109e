// Address classification and CIDR matching for outbound requests (server/net_policy.h).
#include <gtest/gtest.h>

#include "core/error.h"
#include "server/net_policy.h"

namespace tc::server {
namespace {

sockaddr_storage addr(const std::string& text) {
    sockaddr_storage ss{};
    EXPECT_TRUE(parse_address(text, ss)) << text;
    return ss;
}

TEST(NetPolicy, ForbiddenAddressTable) {
    const char* forbidden[] = {
        // IPv4
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1",
        "127.0.0.2", "127.255.255.255", "169.254.0.1", "169.254.169.254", "172.16.0.1", "172.31.255.255",
        "192.0.0.8", "192.0.2.1", "192.168.0.1", "192.168.255.255", "198.18.0.1", "198.51.100.7", "203.0.113.9",
        "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        // IPv6
        "::", "::1", "fe80::1", "febf::1", "fec0::1", "fc00::1", "fd12:3456::1", "fd00:ec2::254", "ff02::1",
        "ff05::2", "100::1", "::127.0.0.1" /* IPv4-compatible */, "2001:db8::1", "2001::1" /* Teredo */,
        "3fff::1",
        // IPv4-mapped, NAT64 and 6to4 embedding forbidden IPv4 addresses
        "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
        "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe" /* 169.254.169.254 */, "64:ff9b::192.168.1.1",
        "64:ff9b:1::1" /* local-use NAT64 */, "2002:7f00:1::1" /* 6to4 of 127.0.0.1 */,
        "2002:a9fe:a9fe::1" /* 6to4 of 169.254.169.254 */, "2002:c0a8:0101::", "2002::1" /* 6to4 of 0.0.0.0 */,
    };
    for (const char* a : forbidden) EXPECT_TRUE(is_forbidden_address(addr(a))) << a;

    const char* allowed[] = {
        "93.184.216.34", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
        "192.169.0.1", "169.253.255.255", "223.255.255.255",
        "2606:4700::1", "2a00:1450:4001:80b::200e", "2001:4860:4860::8888",
        "::ffff:93.184.216.34", "64:ff9b::5db8:d822" /* NAT64 of 93.184.216.34 */, "2002:5db8:d822::1",
    };
    for (const char* a : allowed) EXPECT_FALSE(is_forbidden_address(addr(a))) << a;

    sockaddr_storage unix_like{};
    unix_like.ss_family = AF_UNIX;
    EXPECT_TRUE(is_forbidden_address(unix_like));
}

TEST(NetPolicy, CidrParseAndContains) {
    const Cidr loop = Cidr::parse("127.0.0.1/32");
    EXPECT_EQ(loop.family, AF_INET);
    EXPECT_TRUE(loop.contains(addr("127.0.0.1")));
    EXPECT_FALSE(loop.contains(addr("127.0.0.2")));
    EXPECT_TRUE(loop.contains(addr("::ffff:127.0.0.1")));  // the mapped form of the same address
    EXPECT_FALSE(loop.contains(addr("::1")));

    const Cidr net = Cidr::parse("10.1.2.3/8");  // host bits masked off
    EXPECT_EQ(net.to_string(), "10.0.0.0/8");
    EXPECT_TRUE(net.contains(addr("10.200.0.1")));
    EXPECT_FALSE(net.contains(addr("11.0.0.1")));

    const Cidr odd = Cidr::parse("172.16.0.0/12");
    EXPECT_TRUE(odd.contains(addr("172.31.255.255")));
    EXPECT_FALSE(odd.contains(addr("172.32.0.0")));

    const Cidr bare = Cidr::parse("192.168.1.5");
    EXPECT_EQ(bare.prefix, 32);
    EXPECT_TRUE(bare.contains(addr("192.168.1.5")));

    const Cidr v6 = Cidr::parse("fd00::/8");
    EXPECT_EQ(v6.family, AF_INET6);
    EXPECT_TRUE(v6.contains(addr("fd00:ec2::254")));
    EXPECT_FALSE(v6.contains(addr("fc00::1")));
    EXPECT_FALSE(v6.contains(addr("10.0.0.1")));
    EXPECT_TRUE(Cidr::parse("::1/128").contains(addr("::1")));
    EXPECT_TRUE(Cidr::parse("fe80::/10").contains(addr("febf::1")));
    EXPECT_FALSE(Cidr::parse("fe80::/10").contains(addr("fec0::1")));
    EXPECT_TRUE(Cidr::parse("0.0.0.0/0").contains(addr("8.8.8.8")));

    for (const char* bad : {"", "/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
                            "10.0.0/8", "example.com/8", "fe80::1%eth0/64", "10.0.0.0/0008"})
        EXPECT_THROW(Cidr::parse(bad), tc::Error) << bad;
}

TEST(NetPolicy, AllowlistOverridesOnlyListedAddresses) {
    FetchPolicy p;
    EXPECT_FALSE(is_allowed_address(addr("127.0.0.1"), p));
    EXPECT_TRUE(is_allowed_address(addr("93.184.216.34"), p));
    p.allow_private.push_back(Cidr::parse("127.0.0.1/32"));
    EXPECT_TRUE(is_allowed_address(addr("127.0.0.1"), p));
    EXPECT_FALSE(is_allowed_address(addr("127.0.0.2"), p));
    EXPECT_FALSE(is_allowed_address(addr("169.254.169.254"), p));
}

}  // namespace
}  // namespace tc::server
