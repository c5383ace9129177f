import Foundation

/// How the job stores keep records: the same JSON on SQLite and on PostgreSQL (sorted keys, so equal records
/// are equal text), and one clear error for a record that no longer decodes.
enum JobRecordCoding {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    private static let decoder = JSONDecoder()

    static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw PipelineError(
                .io, "a stored \(type) record cannot be read: \(error)", value: String(text.prefix(200)))
        }
    }
}
