// The legacy single-byte encodings that ftfy considers when it undoes mojibake.
// Mojibake is UTF-8 that some program decoded with one of these; re-encoding with the same table gives the
// original UTF-8 bytes back. The list and its order follow ftfy/chardata.py (CHARMAP_ENCODINGS); the
// "sloppy" variants follow ftfy/bad_codecs/sloppy.py: bytes the Windows code page leaves undefined decode as
// in Latin-1, and byte 1A stands for U+FFFD (so text with a replacement character can still be re-encoded).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tc::tok {

enum class Charmap {
    Latin1,
    SloppyWindows1252,
    SloppyWindows1251,
    SloppyWindows1250,
    SloppyWindows1253,
    SloppyWindows1254,
    Iso8859_2,
    MacRoman,
    Cp437,
};

// In the order ftfy tries them.
inline constexpr Charmap kFtfyCharmaps[] = {
    Charmap::Latin1,           Charmap::SloppyWindows1252, Charmap::SloppyWindows1251,
    Charmap::SloppyWindows1250, Charmap::SloppyWindows1253, Charmap::SloppyWindows1254,
    Charmap::Iso8859_2,        Charmap::MacRoman,          Charmap::Cp437,
};

class SingleByteCodec {
public:
    // The codec tables are built once, from ICU's converters (see tokenizer_charmap.cpp).
    static const SingleByteCodec& get(Charmap which);

    char32_t decode(uint8_t byte) const { return to_unicode_[byte]; }
    // nullopt when some character has no byte in this encoding (ftfy's chardata.possible_encoding).
    std::optional<std::string> encode(std::u32string_view text) const;
    bool can_encode(std::u32string_view text) const;
    bool is_sloppy() const { return sloppy_; }

private:
    SingleByteCodec() = default;
    std::array<char32_t, 256> to_unicode_{};
    std::unordered_map<char32_t, uint8_t> from_unicode_;
    bool sloppy_ = false;
    friend struct CharmapBuilder;
};

}  // namespace tc::tok
