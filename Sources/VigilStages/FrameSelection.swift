import Foundation
import VigilStore

/// What an erasure asks for, in the terms of the naming contract: every frame of some cameras, or of some
/// customers (the frames of the cameras each owned, from the times it owned them), the frames named by an
/// image's address (the upload, its validated copy, its detection and threat records, in every repo), other
/// files or folders by address, and an optional range of the time in the name. The same for `vigil erase` and
/// `POST /v1/erasures`.
public struct FrameSelection: Sendable, Codable, Equatable {
    public var devices: [String]
    public var customers: [String] = []
    public var addresses: [String]
    /// Unix seconds: frames taken at or after, and before.
    public var after: Int64?
    public var before: Int64?

    public init(
        devices: [String] = [], customers: [String] = [], addresses: [String] = [], after: Int64? = nil,
        before: Int64? = nil
    ) {
        self.devices = devices
        self.customers = customers
        self.addresses = addresses
        self.after = after
        self.before = before
    }

    /// Checks the selection and makes the store's test from it; `bad-argument` naming what is wrong. Customers
    /// are looked up in `ownership` (who owned which camera when, from the rules' history).
    public func erasureSelection(ownership: DeviceOwnership = DeviceOwnership(history: [])) throws -> ErasureSelection {
        guard !devices.isEmpty || !customers.isEmpty || !addresses.isEmpty else {
            throw VigilError(
                .badArgument, "say what to erase: a device, a customer, or the address of an image, file or folder",
                value: "")
        }
        for id in customers { try Self.checkCustomer(id, ownership: ownership) }
        for id in devices where !ImageName.isValidDevice(id) {
            throw VigilError(
                .badArgument, "'\(id)' is not a device id: 1-64 letters, digits, '_' or '.', no '-' (docs/CONTRACT.md)",
                value: id)
        }
        var frames: Set<String> = []
        var places: [(repo: String, path: String)] = []
        for text in addresses {
            let address = try Address.parse(text)
            if let frame = ImageName.frame(ofPath: address.path) {
                frames.insert("\(frame.device)-\(frame.seconds)")
            } else {
                places.append((address.repo, address.path))
            }
        }
        let devices = Set(devices)
        let customers = Set(customers)
        let (after, before) = (after, before)
        return ErasureSelection(description) { [frames, places] repo, path in
            if let frame = ImageName.frame(ofPath: path) {
                if let after, frame.seconds < after { return false }
                if let before, frame.seconds >= before { return false }
                if devices.contains(frame.device) || frames.contains("\(frame.device)-\(frame.seconds)") {
                    return true
                }
                if !customers.isEmpty, let owner = ownership.owner(of: frame.device, at: Double(frame.seconds)),
                    customers.contains(owner)
                {
                    return true
                }
            }
            return places.contains { $0.repo == repo && (path == $0.path || path.hasPrefix($0.path + "/")) }
        }
    }

    /// Checks that `id` is a customer id and names a customer that owned a camera (by the rules' history):
    /// `bad-argument` or `customer-not-found`.
    public static func checkCustomer(_ id: String, ownership: DeviceOwnership) throws {
        guard id.range(of: "^[a-z0-9][a-z0-9_-]{0,63}$", options: .regularExpression) != nil else {
            throw VigilError(
                .badArgument, "'\(id)' is not a customer id (lower-case letters, digits, '_' and '-')", value: id)
        }
        guard !ownership.devices(everOwnedBy: id).isEmpty else {
            throw VigilError(
                .customerNotFound, "customer '\(id)' never owned a camera in the rules; check the id", value: id)
        }
    }

    /// The devices the selection names: by id, and through the addresses of their images.
    public var namedDevices: Set<String> {
        Set(
            devices
                + addresses.compactMap { (try? Address.parse($0)).flatMap { ImageName.frame(ofPath: $0.path)?.device } }
        )
    }

    /// As recorded with the erasure: `--device cam1 images@master:/x.jpg --after 1700000000`.
    public var description: String {
        (devices.map { "--device \($0)" } + customers.map { "--customer \($0)" } + addresses
            + [after.map { "--after \($0)" }, before.map { "--before \($0)" }]
            .compactMap { $0 }).joined(separator: " ")
    }

    /// An image time given as unix seconds or ISO 8601 (`2025-11-22T08:00:00Z`), or nil when it is neither.
    public static func unixSeconds(_ text: String) -> Int64? {
        if let seconds = Int64(text) { return seconds }
        return (try? Date(text, strategy: .iso8601)).map { Int64($0.timeIntervalSince1970) }
    }

    /// A time as unix seconds, or ISO 8601 (`2026-12-01T00:00:00Z`), not before 1970.
    public static func seconds(_ text: String, field: String) throws -> Int64 {
        if let seconds = unixSeconds(text), seconds >= 0 { return seconds }
        throw VigilError(
            .badArgument, "\(field) '\(text)' is not a time: give unix seconds or ISO 8601 (2026-12-01T00:00:00Z)",
            value: text)
    }
}
