package apikey

// The key checksum is CRC-32 (IEEE), the checksum of GitHub's token
// format. hash/crc32 is not used on the hot path because its IEEE entry
// points take a []byte through a function variable, so the bytes escape
// and converting the key costs an allocation on every Verify. This is the
// same polynomial, computed slicing-by-8 straight from the string; a test
// checks it against hash/crc32.

const crcPoly = 0xedb88320 // IEEE, reversed

var crcTab = makeCRCTables()

func makeCRCTables() *[8][256]uint32 {
	t := new([8][256]uint32)
	for i := range 256 {
		c := uint32(i)
		for range 8 {
			if c&1 == 1 {
				c = c>>1 ^ crcPoly
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for i := range 256 {
		c := t[0][i]
		for k := 1; k < 8; k++ {
			c = t[0][c&0xff] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}

// crc32String is crc32.ChecksumIEEE([]byte(s)) without the conversion.
func crc32String(s string) uint32 { return ^crc32Update(^uint32(0), s) }

// crc32Update continues the CRC register crc (not inverted) over s.
func crc32Update(crc uint32, s string) uint32 {
	t := crcTab
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = t[0][s[7]] ^ t[1][s[6]] ^ t[2][s[5]] ^ t[3][s[4]] ^
			t[4][crc>>24] ^ t[5][crc>>16&0xff] ^ t[6][crc>>8&0xff] ^ t[7][crc&0xff]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = t[0][byte(crc)^s[i]] ^ crc>>8
	}
	return crc
}

// The CRC register after each environment's prefix: every key of an
// environment starts the same, so Parse starts from here.
var (
	crcAfterLive = crc32Update(^uint32(0), "rk_live_")
	crcAfterTest = crc32Update(^uint32(0), "rk_test_")
)

// digit maps a base62 character to its value, and every other byte to
// 0xff, so that OR-ing the digits of a string tells whether all of them
// were base62 (bit 7 clear).
var digit = func() (t [256]uint8) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = uint8(i)
	}
	return t
}()

// checkBody checks the part of a key after its prefix (body and checksum,
// bodyLen+checksumLen bytes) in one pass: whether every byte is base62,
// and whether the checksum digits equal the CRC of prefix and body, with
// crc the register after the prefix.
//
// The body is read 8 bytes at a time, and each word is checked against
// the alphabet arithmetically, without branches or table loads, so the
// processor overlaps the check with the CRC's dependency chain. For a
// byte b below 0x80, b+(0x80-lo) has its top bit set exactly when b >= lo,
// and b+(0x7f-hi) has it clear exactly when b <= hi; neither sum carries
// into the next byte. A word with a byte of 0x80 or more is refused by
// its own test (its sums may carry, but the word is bad anyway).
func checkBody(crc uint32, s string) (alphabetOK, checksumOK bool) {
	if len(s) != bodyLen+checksumLen {
		return false, false
	}
	const ones, high = 0x0101010101010101, 0x8080808080808080
	t := crcTab
	var top uint64             // OR of the words: a top bit set means a non-ASCII byte
	inAlphabet := uint64(high) // AND of the per-byte "in a range" bits
	body := s[:bodyLen]
	for len(body) >= 8 {
		w := uint64(body[0]) | uint64(body[1])<<8 | uint64(body[2])<<16 | uint64(body[3])<<24 |
			uint64(body[4])<<32 | uint64(body[5])<<40 | uint64(body[6])<<48 | uint64(body[7])<<56
		top |= w
		inAlphabet &= (w+ones*(0x80-'0'))&^(w+ones*(0x7f-'9')) |
			(w+ones*(0x80-'A'))&^(w+ones*(0x7f-'Z')) |
			(w+ones*(0x80-'a'))&^(w+ones*(0x7f-'z'))
		crc ^= uint32(w)
		crc = t[0][byte(w>>56)] ^ t[1][byte(w>>48)] ^ t[2][byte(w>>40)] ^ t[3][byte(w>>32)] ^
			t[4][crc>>24] ^ t[5][byte(crc>>16)] ^ t[6][byte(crc>>8)] ^ t[7][byte(crc)]
		body = body[8:]
	}
	var bad uint8
	for i := 0; i < len(body); i++ {
		bad |= digit[body[i]]
		crc = t[0][byte(crc)^body[i]] ^ crc>>8
	}
	// The checksum digits, read as a number: the encoding is fixed-width,
	// so equal numbers mean equal digits.
	var v uint64
	sum := s[bodyLen:]
	for i := 0; i < len(sum); i++ {
		d := digit[sum[i]]
		bad |= d
		v = v*62 + uint64(d)
	}
	return top&high == 0 && inAlphabet&high == high && bad&0x80 == 0, v == uint64(^crc)
}
