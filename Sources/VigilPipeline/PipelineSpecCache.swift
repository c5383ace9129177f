import Foundation
import Synchronization

/// Decoded specs by their stored text: every step of every pipeline reads its record, and decoding the same
/// JSON each time showed in the service's profile. Shared by the job stores.
enum PipelineSpecCache {
    private static let specs = Mutex<[String: PipelineSpec]>([:])

    static func spec(_ text: String) throws -> PipelineSpec {
        if let known = specs.withLock({ $0[text] }) { return known }
        let spec: PipelineSpec
        do {
            spec = try JSONDecoder().decode(PipelineSpec.self, from: Data(text.utf8))
        } catch {
            throw PipelineError(
                .io, "a stored pipeline spec cannot be read: \(error)", value: String(text.prefix(200)))
        }
        specs.withLock { known in
            if known.count >= 256 { known.removeAll() }
            known[text] = spec
        }
        return spec
    }
}
