import Foundation

/// Every customer's alerting rules, as read from the `rules` repo (docs/RULES.md).
public struct RuleBook: Sendable, Hashable, Codable {
    public var customers: [Customer]

    public init(customers: [Customer]) {
        self.customers = customers
    }

    /// The customer a device belongs to (a device belongs to at most one).
    public func customer(of device: String) -> Customer? {
        customers.first { $0.devices.contains(device) }
    }
}

/// One customer: who to tell, about which devices, which labels are dangerous and when.
public struct Customer: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    /// An IANA time zone (Europe/London): schedules are in the customer's local time.
    public var timeZone: String
    public var contacts: [Contact]
    public var devices: [String]
    /// Label → the least confidence (0–1] at which it is a threat.
    public var dangerous: [String: Double]
    /// When alerts are active; empty: always.
    public var schedule: [ScheduleWindow]
    public var escalation: Escalation
    /// How long its images and alerts are kept; nil: for ever (until erased).
    public var retention: Retention? = nil
}

/// How long a customer's data is kept, in seconds, as its contract says. An image's age counts from the time in
/// its name, an alert's from its image's time. Nil: kept until erased.
public struct Retention: Sendable, Hashable, Codable {
    /// Frames, and everything made from them (validated copies, detection and threat records).
    public var images: Double?
    /// Alert records (who was told, and when).
    public var alerts: Double?

    public init(images: Double? = nil, alerts: Double? = nil) {
        self.images = images
        self.alerts = alerts
    }
}

public struct Contact: Sendable, Hashable, Codable {
    public var name: String
    public var email: String?
    public var phone: String?
}

/// Active from `from` to `to` (local time, minutes since midnight, `to` exclusive) on each of `days`; a window
/// whose `to` is not after `from` runs past midnight into the next day (`days` names the day it starts).
public struct ScheduleWindow: Sendable, Hashable, Codable {
    public var days: Set<Weekday>
    public var from: Int
    public var to: Int
}

public enum Weekday: String, Sendable, Hashable, Codable, CaseIterable {
    case sun, mon, tue, wed, thu, fri, sat

    /// Calendar's weekday number (1 = Sunday).
    init?(calendarWeekday: Int) {
        guard (1...7).contains(calendarWeekday) else { return nil }
        self = Self.allCases[calendarWeekday - 1]
    }

    var previous: Weekday { Self.allCases[(Self.allCases.firstIndex(of: self)! + 6) % 7] }
}

/// Who is told, in which order, and how long each has to acknowledge before the next is told.
public struct Escalation: Sendable, Hashable, Codable {
    /// Contact names, first told first.
    public var order: [String]
    /// Seconds to wait for an acknowledgement before telling the next contact.
    public var acknowledgeWithin: Double

    public init(order: [String], acknowledgeWithin: Double) {
        self.order = order
        self.acknowledgeWithin = acknowledgeWithin
    }
}
