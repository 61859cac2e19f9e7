import CFacekd

/// Status codes of the C API (`fk_status`).
public enum FacekdStatus: Int, Sendable, CustomStringConvertible {
    case ok = 0
    case invalidArgument = 1
    case nonFinite = 2
    case outOfMemory = 3
    case `internal` = 4
    /// A callback (the model) failed.
    case callback = 5

    /// The C name of the status, e.g. "FK_ERR_INVALID_ARGUMENT".
    public var description: String { String(cString: fk_status_name(fk_status(rawValue: UInt32(rawValue)))) }
}

/// Error thrown by every facekd call that fails: the C status and the library's message.
public struct FacekdError: Error, Equatable, CustomStringConvertible {
    /// The C status; `.invalidArgument` also for checks made by the Swift layer (buffer sizes, JSON).
    public let status: FacekdStatus
    /// `fk_last_error()` text of the failing call, or the Swift layer's own message.
    public let message: String

    public init(_ status: FacekdStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status): \(message)" }
}

/// Turns a C status into a thrown `FacekdError` carrying `fk_last_error()` (read on the calling thread).
@inline(__always)
func check(_ status: fk_status) throws {
    if status == FK_OK { return }
    let message = String(cString: fk_last_error())
    let code = FacekdStatus(rawValue: Int(status.rawValue)) ?? .internal
    throw FacekdError(code, message)
}

/// Throws an `.invalidArgument` error unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw FacekdError(.invalidArgument, message()) }
}

/// The C library version, "MAJOR.MINOR.PATCH".
public var facekdVersion: String { String(cString: fk_version()) }
