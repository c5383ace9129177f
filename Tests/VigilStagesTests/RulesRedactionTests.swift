import Testing

@testable import VigilStages

/// A rules version that does not parse is taken whole by a customer's erasure only when it names the customer as
/// a whole id, not as part of a longer one.
@Suite("Rules redaction")
struct RulesRedactionTests {
    @Test func aCustomerIsMentionedAsAWholeIDOnly() {
        #expect(RulesRedaction.mentions("- id: acme\n", id: "acme"))
        #expect(RulesRedaction.mentions("[{id: acme, name: x", id: "acme"))
        #expect(RulesRedaction.mentions("acme", id: "acme"))
        #expect(!RulesRedaction.mentions("- id: acme2\n", id: "acme"))
        #expect(!RulesRedaction.mentions("devices: [acme-east]", id: "acme"))
        #expect(!RulesRedaction.mentions("name: Bacme", id: "acme"))
    }
}
