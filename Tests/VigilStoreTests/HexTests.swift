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

    @Test func randomIDsAreThirtyTwoHexDigitsAndDoNotRepeat() {
        let ids = (0..<10_000).map { _ in Hex.randomID() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            #expect(id.utf8.count == 32)
            #expect(id.allSatisfy { "0123456789abcdef".contains($0) })
        }
        // Every position takes more than one digit: the bits are not stuck (a constant half would pass the rest).
        for position in 0..<32 {
            let digits = Set(ids.prefix(200).map { Array($0.utf8)[position] })
            #expect(digits.count > 1, "digit \(position) never changed")
        }
    }
}
