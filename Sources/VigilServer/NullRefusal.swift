extension KeyedDecodingContainer where Key: CaseIterable {
    /// Refuses every field of `Key` given as null: each field of these request bodies has one type, and a null is
    /// a mistake to report, not a field left out.
    func refuseNulls() throws {
        for key in Key.allCases where contains(key) {
            if try decodeNil(forKey: key) {
                throw DecodingError.valueNotFound(
                    Any.self, .init(codingPath: [key], debugDescription: "`\(key.stringValue)` is null"))
            }
        }
    }
}
