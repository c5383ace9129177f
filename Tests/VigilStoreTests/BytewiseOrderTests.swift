import Foundation
import Testing

@testable import VigilStore

/// Tree nodes are encoded in byte-wise name order; the fast comparison must agree with the element-by-element
/// one on every kind of string it meets.
@Suite("Byte-wise name order")
struct BytewiseOrderTests {
    @Test func theFastComparisonAgreesWithTheGenericOneOnEveryPair() {
        var generator = SeededGenerator(seed: 20)
        let alphabet: [String] = ["a", "b", "z", "A", "0", "9", "-", ".", "_", "é", "ü", "€", "😀", "\u{7F}", "\u{80}"]
        var names: [String] = ["", "a", "ab", "abc", "b", "cam1-1800000000.jpg", "cam1-1800000000.jpg.json"]
        for length in [1, 2, 7, 15, 16, 17, 40] {
            for _ in 0..<12 {
                names.append((0..<length).map { _ in alphabet.randomElement(using: &generator)! }.joined())
            }
        }
        // A shared prefix longer than a small string holds, then every kind of difference after it.
        let prefix = "site-a/cam12-17000000"
        names += alphabet.map { prefix + $0 } + [prefix]
        // Strings Foundation made: not necessarily native Swift strings.
        names += names.prefix(20).map { String(NSString(string: $0)) }
        for first in names {
            for second in names {
                #expect(
                    first.precedesBytewise(second) == first.utf8.lexicographicallyPrecedes(second.utf8),
                    "\(first.debugDescription) vs \(second.debugDescription)")
            }
        }
    }

    @Test func nonASCIIBytesSortAfterEveryASCIIByte() {
        #expect("z".precedesBytewise("é"))
        #expect(!"é".precedesBytewise("z"))
        #expect("cam".precedesBytewise("cam-1"))
        #expect(!"cam-1".precedesBytewise("cam"))
        #expect(!"same".precedesBytewise("same"))
    }
}
