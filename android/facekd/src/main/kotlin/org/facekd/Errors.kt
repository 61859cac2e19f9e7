package org.facekd

/** Status codes of the C API (`fk_status`). */
enum class Status(val code: Int) {
    OK(0),
    INVALID_ARGUMENT(1),
    NON_FINITE(2),
    OUT_OF_MEMORY(3),
    INTERNAL(4),

    /** A callback (the model) failed. */
    CALLBACK(5);

    /** The C name, e.g. "FK_ERR_INVALID_ARGUMENT". */
    val cName: String get() = NativeBridge.statusName(code)

    companion object {
        fun fromCode(code: Int): Status = entries.firstOrNull { it.code == code } ?: INTERNAL
    }
}

/**
 * Thrown by every failing facekd call: the C [status] and the library's [detail] message
 * (`fk_last_error()`, or the Kotlin/JNI layer's own check). [message] is "<C status name>: <detail>".
 */
class FacekdException(val status: Status, val detail: String) : RuntimeException("${status.name}: $detail") {
    /** Used by the JNI bridge. */
    internal constructor(code: Int, detail: String) : this(Status.fromCode(code), detail)
}

internal inline fun requireArg(condition: Boolean, message: () -> String) {
    if (!condition) throw FacekdException(Status.INVALID_ARGUMENT, message())
}

/** The C library version, "MAJOR.MINOR.PATCH". */
val facekdVersion: String get() = NativeBridge.version()
