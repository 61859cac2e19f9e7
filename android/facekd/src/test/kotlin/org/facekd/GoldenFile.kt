package org.facekd

import java.io.File

/** One `<key> <dtype> <shape...> : <values...>` line of a golden file. */
class GoldenField(val dtype: String, val shape: List<Int>, val values: DoubleArray) {
    val floats: FloatArray get() = FloatArray(values.size) { values[it].toFloat() }
    val bytes: ByteArray get() = ByteArray(values.size) { values[it].toInt().toByte() }
}

/** One `case <kernel> <name>` ... `end` block. */
class GoldenCase(val kernel: String, val name: String, val fields: Map<String, GoldenField>) {
    val id: String get() = "$kernel $name"
    fun has(key: String) = key in fields
    fun field(key: String): GoldenField = fields[key] ?: throw IllegalStateException("case $id: missing field '$key'")
    fun floats(key: String) = field(key).floats
    fun scalar(key: String): Double {
        val f = field(key)
        check(f.values.size == 1) { "case $id: field '$key' is not a scalar" }
        return f.values[0]
    }
    fun int(key: String) = scalar(key).toInt()
    fun float(key: String) = scalar(key).toFloat()
}

/**
 * Reader of tests/golden/ (format: tests/golden/README.md): `facekd-golden 1`, then
 * `case <kernel> <name>` / `<key> <dtype> <shape...> : <values...>` / `end`.
 */
object GoldenFile {
    /** tests/golden of this checkout: `-Dfacekd.golden=DIR`, else found upward from the working directory. */
    val directory: File by lazy {
        System.getProperty("facekd.golden")?.let { return@lazy File(it) }
        var dir: File? = File(System.getProperty("user.dir")).absoluteFile
        while (dir != null) {
            val candidate = File(dir, "tests/golden")
            if (File(dir, "csrc/include/facekd/c_api.h").isFile) return@lazy candidate
            dir = dir.parentFile
        }
        throw IllegalStateException("tests/golden not found above ${System.getProperty("user.dir")}; pass -Dfacekd.golden=DIR")
    }

    fun read(name: String): List<GoldenCase> = read(File(directory, name))

    fun read(file: File): List<GoldenCase> {
        val cases = mutableListOf<GoldenCase>()
        var current: Pair<Pair<String, String>, MutableMap<String, GoldenField>>? = null
        var header = false
        file.readLines().forEachIndexed { index, raw ->
            val where = "${file.name}:${index + 1}"
            val tokens = raw.trim().split(Regex("\\s+")).filter { it.isNotEmpty() }
            if (tokens.isEmpty() || tokens[0].startsWith("#")) return@forEachIndexed
            when {
                !header -> {
                    check(tokens == listOf("facekd-golden", "1")) { "$where: expected 'facekd-golden 1'" }
                    header = true
                }
                tokens[0] == "case" -> {
                    check(current == null) { "$where: 'case' inside a case" }
                    check(tokens.size == 3) { "$where: expected 'case <kernel> <name>'" }
                    current = (tokens[1] to tokens[2]) to mutableMapOf()
                }
                tokens[0] == "end" -> {
                    val c = checkNotNull(current) { "$where: 'end' outside a case" }
                    cases += GoldenCase(c.first.first, c.first.second, c.second)
                    current = null
                }
                else -> {
                    val c = checkNotNull(current) { "$where: field outside a case" }
                    val colon = tokens.indexOf(":")
                    check(tokens.size >= 3 && colon >= 2) { "$where: expected '<key> <dtype> <shape...> : <values...>'" }
                    val dtype = tokens[1]
                    check(dtype in setOf("i32", "f32", "f64", "u8")) { "$where: unknown dtype $dtype" }
                    val shape = tokens.subList(2, colon).map { it.toInt() }
                    val values = tokens.subList(colon + 1, tokens.size).map { parse(it, where) }.toDoubleArray()
                    check(values.size == shape.fold(1) { a, b -> a * b }) {
                        "$where: field ${tokens[0]}: ${values.size} values for shape $shape"
                    }
                    c.second[tokens[0]] = GoldenField(dtype, shape, values)
                }
            }
        }
        check(current == null) { "${file.name}: missing 'end'" }
        check(header) { "${file.name}: empty file" }
        return cases
    }

    private fun parse(t: String, where: String): Double = when (t.lowercase()) {
        "nan", "-nan" -> Double.NaN
        "inf", "+inf", "infinity", "+infinity" -> Double.POSITIVE_INFINITY
        "-inf", "-infinity" -> Double.NEGATIVE_INFINITY
        else -> t.toDoubleOrNull() ?: throw IllegalStateException("$where: bad value '$t'")
    }
}
