extension Array where Element: Sendable {
    /// `transform` of every element, in order, with up to `width` running at once: for work that waits on I/O
    /// (a tree's nodes written to S3 one round trip each).
    public func concurrentMap<Result: Sendable>(
        width: Int, _ transform: @escaping @Sendable (Element) async throws -> Result
    ) async throws -> [Result] {
        if count <= 1 { return try await asyncSequentialMap(transform) }
        return try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: count)
            var next = startIndex
            func start() {
                guard next < endIndex else { return }
                let index = next
                let element = self[index]
                group.addTask { (index, try await transform(element)) }
                next += 1
            }
            for _ in 0..<Swift.min(width, count) { start() }
            while let (index, result) = try await group.next() {
                results[index] = result
                start()
            }
            return results.map { $0! }
        }
    }

    private func asyncSequentialMap<Result>(_ transform: (Element) async throws -> Result) async throws -> [Result] {
        var results: [Result] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
