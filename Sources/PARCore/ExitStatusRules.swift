import Foundation

/// One way a process can end, as `success_exit_codes` and `no_restart_exit_codes` name it:
/// an exit code, or death by a signal (`"SIGTERM"` in JSON).
public enum ExitStatus: Hashable, Sendable, Comparable, CustomStringConvertible {
    case code(Int32)
    case signal(Int32)

    public init(_ termination: Termination) {
        switch termination {
        case .exited(let code): self = .code(code)
        case .signaled(let signal): self = .signal(signal)
        }
    }

    public var description: String {
        switch self {
        case .code(let code): "exit code \(code)"
        case .signal(let signal): Termination.signalName(signal) ?? "signal \(signal)"
        }
    }

    /// How the spawn body and stored documents spell it: a number or a signal's name.
    public var documentValue: Any {
        switch self {
        case .code(let code): Int(code)
        case .signal(let signal): Termination.signalName(signal) ?? "SIG\(signal)"
        }
    }

    /// Reads `3`, `"SIGTERM"`, `"TERM"` or `"SIG15"`.
    public static func parse(_ value: Any, field: String) throws(ValidationError) -> ExitStatus {
        let isBoolean = (value as? NSNumber)?.isJSONBoolean ?? (value is Bool)
        if !isBoolean, let number = value as? NSNumber {
            guard let number = Int(exactly: number.doubleValue), (0...255).contains(number) else {
                throw ValidationError(field: field, reason: "an exit code is a whole number from 0 to 255, got \(number)")
            }
            return .code(Int32(number))
        }
        if !isBoolean, let number = value as? Int {
            guard (0...255).contains(number) else {
                throw ValidationError(field: field, reason: "an exit code is from 0 to 255, got \(number)")
            }
            return .code(Int32(number))
        }
        if let text = value as? String {
            let upper = text.uppercased()
            let bare = upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper
            if let number = Int32(bare), (1...64).contains(number) { return .signal(number) }
            if let number = Termination.signalNumber(named: bare) { return .signal(number) }
        }
        throw ValidationError(field: field, reason: "expected exit codes (0 to 255) or signal names such as \"SIGTERM\", got \(String(describing: value).debugDescription)")
    }

    public static func < (lhs: ExitStatus, rhs: ExitStatus) -> Bool {
        switch (lhs, rhs) {
        case (.code(let a), .code(let b)), (.signal(let a), .signal(let b)): a < b
        case (.code, .signal): true
        case (.signal, .code): false
        }
    }
}

/// Which exits count as success and which end restarts for good: systemd's
/// `SuccessExitStatus` and `RestartPreventExitStatus`. Exit code 0 is always a success.
public struct ExitStatusRules: Sendable, Equatable {
    /// Besides exit code 0: e.g. `SIGTERM` for a program that ends that way when done.
    public var success: Set<ExitStatus>
    /// Never restart after these, whatever the policy.
    public var noRestart: Set<ExitStatus>

    public init(success: Set<ExitStatus> = [], noRestart: Set<ExitStatus> = []) {
        self.success = success
        self.noRestart = noRestart
    }

    public var isEmpty: Bool { success.isEmpty && noRestart.isEmpty }

    /// `on-failure` restarts after a failure; a listed success is none.
    public func isFailure(_ termination: Termination) -> Bool {
        termination.isFailure && !success.contains(ExitStatus(termination))
    }

    public func preventsRestart(_ termination: Termination) -> Bool {
        noRestart.contains(ExitStatus(termination))
    }

    /// Reads a list field of a spawn body or manifest; nil when it is absent.
    public static func parseList(_ value: Any?, field: String) throws(ValidationError) -> Set<ExitStatus>? {
        guard let value, !(value is NSNull) else { return nil }
        guard let items = value as? [Any] else {
            throw ValidationError(field: field, reason: "expected a list of exit codes (0 to 255) and signal names, e.g. [0, 3, \"SIGTERM\"]")
        }
        guard items.count <= 256 else {
            throw ValidationError(field: field, reason: "at most 256 entries, got \(items.count)")
        }
        var statuses: Set<ExitStatus> = []
        for (index, item) in items.enumerated() {
            statuses.insert(try ExitStatus.parse(item, field: "\(field)[\(index)]"))
        }
        return statuses
    }

    public static func document(_ statuses: Set<ExitStatus>) -> [Any] {
        statuses.sorted().map(\.documentValue)
    }
}
