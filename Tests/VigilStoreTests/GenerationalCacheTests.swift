import Testing
import VigilStore

@Suite("Two-generation cache")
struct GenerationalCacheTests {
    @Test func aFullYoungGenerationBecomesTheOldOneAndAnOldHitMovesBack() {
        let cache = GenerationalCache<Int, String>(capacity: 2)
        cache.insert("a", for: 1)
        cache.insert("b", for: 2)
        // The young generation is full: 1 and 2 become old, 3 starts the new young one.
        cache.insert("c", for: 3)
        #expect(cache.value(for: 1) == "a")  // back in the young generation, beside 3
        // Full again: 3 and 1 become old; 2, old and never read, is dropped.
        cache.insert("d", for: 4)
        #expect(cache.value(for: 2) == nil)
        #expect(cache.value(for: 1) == "a" && cache.value(for: 3) == "c" && cache.value(for: 4) == "d")
    }

    @Test func aCostBoundsWhatAGenerationHoldsInsteadOfTheCount() {
        let cache = GenerationalCache<Int, String>(capacity: 10, cost: { $0.count })
        cache.insert("12345", for: 1)
        cache.insert("1234", for: 2)  // 9 of 10
        cache.insert("12", for: 3)  // 11: 1 and 2 become old
        cache.insert("123456789", for: 4)  // 11 again: 3 becomes old, 1 and 2 are dropped
        #expect(cache.value(for: 1) == nil && cache.value(for: 2) == nil)
        #expect(cache.value(for: 3) == "12" && cache.value(for: 4) == "123456789")
        // One entry larger than a generation is still kept (alone).
        cache.insert(String(repeating: "x", count: 25), for: 5)
        #expect(cache.value(for: 5)?.count == 25)
    }

    @Test func removingEntriesFreesTheirCost() {
        let cache = GenerationalCache<Int, String>(capacity: 10, cost: { $0.count })
        cache.insert("123456", for: 1)
        cache.insert("123", for: 2)
        cache.removeAll { $0.count == 6 }
        #expect(cache.value(for: 1) == nil)
        // 3 + 7 fits the young generation now (with the removed entry still counted it would not, and the next
        // insert would drop 2).
        cache.insert("1234567", for: 3)
        cache.insert("123456789", for: 4)  // 19: 2 and 3 become old together
        #expect(cache.value(for: 2) == "123")
    }
}
