import Foundation

/// Reads a JSON object field by field so a wrong request is answered with the exact
/// field and what was expected, and unknown fields (often typos) are refused.
public struct JSONFields {
    private let object: [String: Any]
    private var seen: Set<String> = []

    public init(body: some DataProtocol) throws(ValidationError) {
        let data = Data(body)
        guard !data.isEmpty else {
            throw ValidationError(field: "body", reason: "the request body is empty; send a JSON object")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ValidationError(field: "body", reason: "not valid JSON: \(Self.describe(error))")
        }
        guard let object = parsed as? [String: Any] else {
            throw ValidationError(field: "body", reason: "expected a JSON object {...}")
        }
        self.object = object
    }

    public init(object: [String: Any]) {
        self.object = object
    }

    public var isEmpty: Bool { object.isEmpty }

    /// The fields given as `null`.
    public var nullFields: Set<String> { Set(object.filter { $0.value is NSNull }.keys) }

    private mutating func raw(_ key: String) -> Any? {
        seen.insert(key)
        guard let value = object[key], !(value is NSNull) else { return nil }
        return value
    }

    public mutating func string(_ key: String) throws(ValidationError) -> String? {
        guard let value = raw(key) else { return nil }
        guard let string = value as? String else {
            throw ValidationError(field: key, reason: "expected a string, got \(Self.typeName(value))")
        }
        return string
    }

    public mutating func requiredString(_ key: String) throws(ValidationError) -> String {
        guard let value = try string(key), !value.isEmpty else {
            throw ValidationError(field: key, reason: "is required (a non-empty string)")
        }
        return value
    }

    public mutating func int(_ key: String, in range: ClosedRange<Int>) throws(ValidationError) -> Int? {
        guard let value = raw(key) else { return nil }
        guard let number = value as? NSNumber, !Self.isBool(number),
              let int = Int(exactly: number.doubleValue)
        else {
            throw ValidationError(field: key, reason: "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(Self.render(value))")
        }
        guard range.contains(int) else {
            throw ValidationError(field: key, reason: "must be from \(range.lowerBound) to \(range.upperBound), got \(int)")
        }
        return int
    }

    public mutating func double(_ key: String, in range: ClosedRange<Double>) throws(ValidationError) -> Double? {
        guard let value = raw(key) else { return nil }
        guard let number = value as? NSNumber, !Self.isBool(number), number.doubleValue.isFinite else {
            throw ValidationError(field: key, reason: "expected a number from \(range.lowerBound) to \(range.upperBound), got \(Self.render(value))")
        }
        guard range.contains(number.doubleValue) else {
            throw ValidationError(field: key, reason: "must be from \(range.lowerBound) to \(range.upperBound), got \(number.doubleValue)")
        }
        return number.doubleValue
    }

    public mutating func bool(_ key: String) throws(ValidationError) -> Bool? {
        guard let value = raw(key) else { return nil }
        guard let number = value as? NSNumber, Self.isBool(number) else {
            throw ValidationError(field: key, reason: "expected true or false, got \(Self.render(value))")
        }
        return number.boolValue
    }

    public mutating func stringMap(_ key: String) throws(ValidationError) -> [String: String]? {
        guard let value = raw(key) else { return nil }
        guard let map = value as? [String: Any] else {
            throw ValidationError(field: key, reason: "expected an object of string values, got \(Self.typeName(value))")
        }
        var result: [String: String] = [:]
        for (name, item) in map {
            if let string = item as? String {
                result[name] = string
            } else if let number = item as? NSNumber, !Self.isBool(number) {
                result[name] = number.stringValue
            } else {
                throw ValidationError(field: "\(key).\(name)", reason: "expected a string, got \(Self.typeName(item))")
            }
        }
        return result
    }

    public mutating func object(_ key: String) throws(ValidationError) -> [String: Any]? {
        guard let value = raw(key) else { return nil }
        guard let object = value as? [String: Any] else {
            throw ValidationError(field: key, reason: "expected an object, got \(Self.typeName(value))")
        }
        return object
    }

    public mutating func array(_ key: String) throws(ValidationError) -> [Any]? {
        guard let value = raw(key) else { return nil }
        guard let array = value as? [Any] else {
            throw ValidationError(field: key, reason: "expected a list, got \(Self.typeName(value))")
        }
        return array
    }

    /// Refuses any key no accessor asked for.
    public func rejectUnknown(allowed extra: Set<String> = []) throws(ValidationError) {
        let unknown = Set(object.keys).subtracting(seen).subtracting(extra).sorted()
        guard let first = unknown.first else { return }
        let accepted = seen.union(extra).sorted()
        throw ValidationError(
            field: first,
            reason: "unknown field\(unknown.count > 1 ? "s " + unknown.joined(separator: ", ") : ""); "
                + (accepted.isEmpty ? "this request takes no fields: send {} or no body" : "accepted fields are \(accepted.joined(separator: ", "))")
        )
    }

    private static func isBool(_ number: NSNumber) -> Bool {
        number.isJSONBoolean
    }

    private static func typeName(_ value: Any) -> String {
        switch value {
        case is String: "a string"
        case let n as NSNumber: isBool(n) ? "a boolean" : "a number"
        case is [Any]: "an array"
        case is [String: Any]: "an object"
        default: "null"
        }
    }

    private static func render(_ value: Any) -> String {
        switch value {
        case let s as String: s.debugDescription
        case let n as NSNumber: isBool(n) ? (n.boolValue ? "true" : "false") : n.stringValue
        default: typeName(value)
        }
    }

    private static func describe(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
    }
}

extension NSNumber {
    /// Whether JSONSerialization made this number from `true`/`false`.
    public var isJSONBoolean: Bool {
        #if canImport(Darwin)
        return CFGetTypeID(self) == CFBooleanGetTypeID()
        #else
        return objCType.pointee == 0x63 // "c": how Foundation stores JSON true/false
        #endif
    }
}
