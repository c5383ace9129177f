import Foundation
import Testing
import VigilStore

/// Datum ids and spec hashes are stored: the hex digits must stay exactly what a formatter writes.
@Suite("Hex digits")
struct HexTests {
    @Test func everyByteIsWrittenAsAFormatterWritesIt() {
        let bytes = (0...255).map { UInt8($0) }
        #expect(Hex.lowercase(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Hex.lowercase([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.lowercase([UInt8]()).isEmpty)
    }
}
