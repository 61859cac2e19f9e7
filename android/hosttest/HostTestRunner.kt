// JUnit 4 runner for the library's JVM tests on the host (used by .ci/kotlin.sh): runs every
// top-level *Test class under the given class directory and ends with "kotlin: N passed, N failed".
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import java.io.File
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    require(args.size == 1) { "usage: HostTestRunner <test-classes-dir>" }
    val root = File(args[0])
    val classes = root.walk()
        .filter { it.isFile && it.name.endsWith("Test.class") && '$' !in it.name }
        .map { it.relativeTo(root).path.removeSuffix(".class").replace(File.separatorChar, '.') }
        .sorted().map { Class.forName(it) }.toList()
    var failed = 0
    var ignored = 0
    var passed = 0
    val core = JUnitCore()
    core.addListener(object : RunListener() {
        private var current: Description? = null
        private var ok = true
        override fun testStarted(d: Description) { current = d; ok = true }
        override fun testFailure(f: Failure) {
            ok = false
            if (f.description.methodName == null) failed++ // class-level failure: no testFinished follows
            println("FAIL ${f.description.className}.${f.description.methodName}: ${f.message}")
            f.trace.lineSequence().filter { "org.facekd" in it }.take(6).forEach { println("    $it") }
        }
        override fun testFinished(d: Description) {
            if (ok) { passed++; println("ok   ${d.className}.${d.methodName}") } else failed++
        }
        override fun testIgnored(d: Description) { ignored++ }
    })
    for (c in classes) core.run(Request.aClass(c))
    println("kotlin: $passed passed, $failed failed, $ignored skipped")
    if (classes.isEmpty() || passed == 0) println("no tests found under $root")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
