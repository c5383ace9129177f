import Foundation

/// Who owned each device when, read from the rules repo's history: a rules commit that moves a device to
/// another customer moves it from that commit's time on. Access follows ownership at an image's time (its
/// name's seconds), so the new owner of a moved camera sees nothing from before the move (threat records
/// with the old owner's contacts, images of the old owner's premises) and the old owner keeps its history.
///
/// A device's first known owner owns it from the beginning: cameras upload before an operator adds them to
/// the rules, and the first rules commit describes a world that existed before it.
public struct DeviceOwnership: Sendable, Equatable {
    /// One owner from `from` (unix seconds) until the next period's start.
    public struct Period: Sendable, Equatable {
        public var from: Double
        public var customer: String?
    }

    /// Per device, oldest first; the first starts at -∞.
    public private(set) var periods: [String: [Period]] = [:]

    /// `history`: each rules version's time and book, oldest first.
    public init(history: [(time: Double, book: RuleBook)]) {
        var devices: Set<String> = []
        for (_, book) in history { for customer in book.customers { devices.formUnion(customer.devices) } }
        for device in devices {
            var periods: [Period] = []
            for (time, book) in history {
                let owner = book.customer(of: device)?.id
                if periods.last.map({ $0.customer != owner }) ?? true {
                    periods.append(Period(from: periods.isEmpty ? -.infinity : time, customer: owner))
                }
            }
            // Before its first owner appeared, the device was that owner's (see above).
            if periods.count > 1, periods[0].customer == nil {
                periods.removeFirst()
                periods[0].from = -.infinity
            }
            self.periods[device] = periods
        }
    }

    /// The customer that owned `device` at `seconds`; nil for a device no rules ever named, or none then.
    public func owner(of device: String, at seconds: Double) -> String? {
        periods[device]?.last { $0.from <= seconds }?.customer
    }

    /// Every device `customer` owned at some time.
    public func devices(everOwnedBy customer: String) -> Set<String> {
        Set(periods.filter { $0.value.contains { $0.customer == customer } }.keys)
    }

    /// Whether `customer` owned `device` at every time (no move either way).
    public func owns(_ device: String, always customer: String) -> Bool {
        periods[device].map { $0.count == 1 && $0[0].customer == customer } ?? false
    }
}
