import Foundation
import VigilPipeline
import Yams

/// Reads customer rules from YAML (or JSON) files, checking every field by hand so that a misspelt key is an
/// error rather than a silent default, and every error names the file and field path.
public enum RuleBookParser {
    /// One rule book from several files (the `rules` repo may split customers over files).
    public static func parse(files: [(name: String, text: String)]) throws(RuleError) -> RuleBook {
        try book(files.map { file throws(RuleError) in (file.name, try parse(file.text, file: file.name)) })
    }

    /// One rule book from files already parsed (or kept by an erasure, `RuleFileRemainder`): a customer
    /// defined twice, or a device with two owners, is an error naming the file.
    public static func book(_ files: [(name: String, customers: [Customer])]) throws(RuleError) -> RuleBook {
        var customers: [Customer] = []
        var owners: [String: String] = [:]
        for file in files {
            for customer in file.customers {
                if customers.contains(where: { $0.id == customer.id }) {
                    throw RuleError(
                        file: file.name, field: "customers", "customer '\(customer.id)' is defined twice",
                        value: customer.id)
                }
                for device in customer.devices {
                    if let owner = owners[device] {
                        throw RuleError(
                            file: file.name, field: "customers[\(customer.id)].devices",
                            "device '\(device)' already belongs to customer '\(owner)'; a device has one owner",
                            value: device)
                    }
                    owners[device] = customer.id
                }
                customers.append(customer)
            }
        }
        return RuleBook(customers: customers)
    }

    /// The customers of one file.
    public static func parse(_ text: String, file: String? = nil) throws(RuleError) -> [Customer] {
        do throws(RuleError) {
            let document: Any?
            do {
                document = try Yams.load(yaml: text)
            } catch {
                throw RuleError(field: "rules", "is not valid YAML or JSON: \(error)")
            }
            let root = try object(document, at: "rules", allowed: ["customers"])
            guard let list = root["customers"] as? [Any], !list.isEmpty else {
                throw RuleError(field: "customers", "must be a non-empty list of customers")
            }
            return try list.enumerated().map { (index, value) throws(RuleError) in
                try customer(value, at: "customers[\(index)]")
            }
        } catch var error {
            error.file = file
            throw error
        }
    }

    static let customerKeys = [
        "id", "name", "timezone", "contacts", "devices", "dangerous", "schedule", "escalation", "retention",
    ]

    private static func customer(_ value: Any, at field: String) throws(RuleError) -> Customer {
        let body = try object(value, at: field, allowed: customerKeys)
        let id = try string(body["id"], at: field + ".id")
        guard id.range(of: "^[a-z0-9][a-z0-9_-]{0,63}$", options: .regularExpression) != nil else {
            throw RuleError(
                field: field + ".id",
                "use 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
                value: id)
        }
        let timeZone =
            try body["timezone"].map { v throws(RuleError) in try string(v, at: field + ".timezone") } ?? "UTC"
        guard TimeZone(identifier: timeZone) != nil else {
            throw RuleError(
                field: field + ".timezone", "is not a time zone; use an IANA name such as Europe/London or UTC",
                value: timeZone)
        }
        let contacts = try list(body["contacts"], at: field + ".contacts").enumerated().map {
            (index, value) throws(RuleError) in try contact(value, at: "\(field).contacts[\(index)]")
        }
        var names = Set<String>()
        for contact in contacts where !names.insert(contact.name).inserted {
            throw RuleError(field: field + ".contacts", "two contacts are named '\(contact.name)'", value: contact.name)
        }
        let devices = try list(body["devices"], at: field + ".devices").enumerated().map {
            (index, value) throws(RuleError) -> String in
            let device = try string(value, at: "\(field).devices[\(index)]")
            guard ImageName.isValidDevice(device) else {
                throw RuleError(
                    field: "\(field).devices[\(index)]",
                    "is not a device id: 1-64 letters, digits, '_' or '.', no '-' (docs/CONTRACT.md)", value: device)
            }
            return device
        }
        return Customer(
            id: id, name: try string(body["name"], at: field + ".name"), timeZone: timeZone, contacts: contacts,
            devices: devices, dangerous: try dangerous(body["dangerous"], at: field + ".dangerous"),
            schedule: try body["schedule"].map { v throws(RuleError) in try schedule(v, at: field + ".schedule") }
                ?? [],
            escalation: try escalation(body["escalation"], contacts: contacts, at: field + ".escalation"),
            retention: try body["retention"].map { v throws(RuleError) in try retention(v, at: field + ".retention") })
    }

    /// `{images: 30d, alerts: 365d}`: either may be left out (kept until erased).
    private static func retention(_ value: Any, at field: String) throws(RuleError) -> Retention {
        let body = try object(value, at: field, allowed: ["images", "alerts"])
        guard !body.isEmpty else { throw RuleError(field: field, "give images, alerts or both, e.g. {images: 30d}") }
        func duration(_ key: String) throws(RuleError) -> Double? {
            guard let raw = body[key] else { return nil }
            guard let seconds = PipelineSpecParser.Duration.seconds(raw), seconds >= 3600 else {
                throw RuleError(
                    field: "\(field).\(key)", "must be a duration of an hour or more, such as 30d, 48h or 365d",
                    value: "\(raw)")
            }
            return seconds
        }
        return Retention(images: try duration("images"), alerts: try duration("alerts"))
    }

    private static func contact(_ value: Any, at field: String) throws(RuleError) -> Contact {
        let body = try object(value, at: field, allowed: ["name", "email", "phone"])
        let email = try body["email"].map { v throws(RuleError) in try string(v, at: field + ".email") }
        let phone = try body["phone"].map { v throws(RuleError) in try string(v, at: field + ".phone") }
        if let email, email.range(of: "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", options: .regularExpression) == nil {
            throw RuleError(field: field + ".email", "is not an e-mail address", value: email)
        }
        if let phone, phone.range(of: "^\\+?[0-9][0-9 ().-]{4,30}$", options: .regularExpression) == nil {
            throw RuleError(field: field + ".phone", "is not a phone number (digits, spaces, + - . ( ))", value: phone)
        }
        guard email != nil || phone != nil else {
            throw RuleError(field: field, "give an email or a phone number: a contact must be reachable")
        }
        return Contact(name: try string(body["name"], at: field + ".name"), email: email, phone: phone)
    }

    private static func dangerous(_ value: Any?, at field: String) throws(RuleError) -> [String: Double] {
        guard let map = value as? [String: Any], !map.isEmpty else {
            throw RuleError(field: field, "must map labels to the least confidence, e.g. {person: 0.6}")
        }
        var out: [String: Double] = [:]
        for (label, raw) in map {
            let number = (raw as? Double) ?? (raw as? Int).map(Double.init)
            guard let number, number > 0, number <= 1 else {
                throw RuleError(
                    field: "\(field).\(label)", "must be a confidence above 0 and at most 1, e.g. 0.6", value: "\(raw)")
            }
            out[label] = number
        }
        return out
    }

    private static func schedule(_ value: Any, at field: String) throws(RuleError) -> [ScheduleWindow] {
        try list(value, at: field).enumerated().map { (index, item) throws(RuleError) -> ScheduleWindow in
            let path = "\(field)[\(index)]"
            let body = try object(item, at: path, allowed: ["days", "from", "to"])
            var days = Set<Weekday>()
            for (position, day) in try list(body["days"], at: path + ".days").enumerated() {
                let text = try string(day, at: "\(path).days[\(position)]").lowercased()
                switch text {
                case "daily": days.formUnion(Weekday.allCases)
                case "weekdays": days.formUnion([.mon, .tue, .wed, .thu, .fri])
                case "weekends": days.formUnion([.sat, .sun])
                default:
                    guard let weekday = Weekday(rawValue: String(text.prefix(3))), text.count == 3 else {
                        throw RuleError(
                            field: "\(path).days[\(position)]",
                            "use mon, tue, wed, thu, fri, sat, sun, weekdays, weekends or daily", value: text)
                    }
                    days.insert(weekday)
                }
            }
            let from = try minutes(body["from"], at: path + ".from")
            let to = try minutes(body["to"], at: path + ".to")
            guard from != to else {
                throw RuleError(
                    field: path,
                    "'from' and 'to' are the same time; for a whole day write from: \"00:00\", to: \"24:00\"")
            }
            guard from < 24 * 60 else { throw RuleError(field: path + ".from", "cannot be 24:00", value: "24:00") }
            return ScheduleWindow(days: days, from: from, to: to)
        }
    }

    /// "HH:MM" from 00:00 to 24:00, as minutes since midnight.
    private static func minutes(_ value: Any?, at field: String) throws(RuleError) -> Int {
        let text = try string(value, at: field)
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]),
            let minutes = Int(parts[1]), (0...24).contains(hours), (0...59).contains(minutes),
            hours * 60 + minutes <= 24 * 60
        else {
            throw RuleError(field: field, "must be a time \"HH:MM\" from \"00:00\" to \"24:00\"", value: text)
        }
        return hours * 60 + minutes
    }

    private static func escalation(_ value: Any?, contacts: [Contact], at field: String) throws(RuleError) -> Escalation
    {
        let names = contacts.map(\.name)
        guard let value else { return Escalation(order: names, acknowledgeWithin: 600) }
        let body = try object(value, at: field, allowed: ["order", "acknowledgeWithin"])
        var order = names
        if let raw = body["order"] {
            order = try list(raw, at: field + ".order").enumerated().map { (index, item) throws(RuleError) in
                try string(item, at: "\(field).order[\(index)]")
            }
            for (index, name) in order.enumerated() where !names.contains(name) {
                throw RuleError(
                    field: "\(field).order[\(index)]",
                    "names no contact; contacts are: \(names.joined(separator: ", "))",
                    value: name)
            }
            if Set(order).count != order.count {
                throw RuleError(field: field + ".order", "names a contact twice")
            }
        }
        var wait = 600.0
        if let raw = body["acknowledgeWithin"] {
            guard let seconds = PipelineSpecParser.Duration.seconds(raw) else {
                throw RuleError(
                    field: field + ".acknowledgeWithin", "must be a duration such as 90s, 10m or 1h", value: "\(raw)")
            }
            wait = seconds
        }
        return Escalation(order: order, acknowledgeWithin: wait)
    }

    // MARK: Values

    private static func object(_ value: Any?, at field: String, allowed: [String]) throws(RuleError) -> [String: Any] {
        guard let value else { throw RuleError(field: field, "is required") }
        guard let map = value as? [String: Any] else {
            throw RuleError(field: field, "must be a mapping with the fields \(allowed.joined(separator: ", "))")
        }
        for key in map.keys.sorted() where !allowed.contains(key) {
            throw RuleError(
                field: "\(field).\(key)", "is not a known field; allowed here: \(allowed.joined(separator: ", "))",
                value: key)
        }
        return map
    }

    private static func list(_ value: Any?, at field: String) throws(RuleError) -> [Any] {
        guard let value else { throw RuleError(field: field, "is required") }
        guard let list = value as? [Any], !list.isEmpty else {
            throw RuleError(field: field, "must be a non-empty list")
        }
        return list
    }

    private static func string(_ value: Any?, at field: String) throws(RuleError) -> String {
        guard let value else { throw RuleError(field: field, "is required") }
        guard let text = value as? String, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw RuleError(field: field, "must be a non-empty string", value: "\(value)")
        }
        return text
    }
}
