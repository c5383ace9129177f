import Foundation

/// Evidence kept past retention for an insurance claim or a police request: every frame of a device, every
/// frame and alert of a customer (the frames of the cameras it owned, from the times it owned them), or the
/// frame and record of one alert. Held data is neither erased by retention nor by `vigil erase`; a hold stays on
/// record after it is released (who, when, why), so what was kept and for how long can be shown later.
public struct LegalHold: Sendable, Hashable, Codable {
    public var id: String
    /// The device whose frames are held; for an alert's hold, the alert's device; nil for a customer's hold.
    public var device: String?
    /// The customer whose frames and alerts are held (nil: a device's or an alert's hold).
    public var customer: String?
    /// The alert whose frame and record are held (nil: the whole device).
    public var alert: String?
    /// For an alert's hold, its frame's time (the time in the image's name).
    public var seconds: Int64?
    public var reason: String
    public var placedBy: String
    public var placed: Date
    public var released: Date?
    public var releasedBy: String?
    public var releaseReason: String?

    public init(
        id: String, device: String?, customer: String? = nil, alert: String? = nil, seconds: Int64? = nil,
        reason: String, placedBy: String, placed: Date
    ) {
        self.id = id
        self.device = device
        self.customer = customer
        self.alert = alert
        self.seconds = seconds
        self.reason = reason
        self.placedBy = placedBy
        self.placed = placed
    }

    public var isActive: Bool { released == nil }

    /// Whether this hold, while active, keeps the frame of `device` taken at `seconds`, which `owner` owned then
    /// (by the rules' history; nil when no customer did).
    public func holds(device: String, seconds: Int64, owner: String?) -> Bool {
        guard isActive else { return false }
        if let customer { return owner == customer }
        return device == self.device && (self.seconds == nil || self.seconds == seconds)
    }

    /// Whether this hold, while active, keeps the alert `id` about `device`, raised for `customer`.
    public func holds(alert id: String, device: String, customer: String) -> Bool {
        guard isActive else { return false }
        if let held = self.customer { return customer == held }
        return alert == nil ? device == self.device : alert == id
    }

    /// What it holds, for people: `device cam7`, `customer acme` or `alert 3f2a… (cam7 at 1763790000)`.
    public var target: String {
        if let customer { return "customer \(customer)" }
        guard let alert else { return "device \(device ?? "?")" }
        return "alert \(alert) (\(device ?? "?") at \(seconds.map(String.init) ?? "?"))"
    }
}
