import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.facekd"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
        externalNativeBuild {
            cmake { arguments += listOf("-DANDROID_STL=c++_static", "-DCMAKE_BUILD_TYPE=Release") }
        }
    }
    // libfacekd_jni.so: the JNI bridge + the kernel set compiled from ../../csrc (no copies).
    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = "3.22.1"
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets["main"].java.srcDirs("src/main/kotlin")
    sourceSets["test"].java.srcDirs("src/test/kotlin")
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    implementation("com.google.code.gson:gson:2.10.1")
    testImplementation("junit:junit:4.13.2")
}

// JVM unit tests need the host build of the JNI bridge: run `bash .ci/kotlin.sh` once (it builds
// ../.ci/cache/kotlin-jni/libfacekd_jni.so and runs the same tests with kotlinc).
tasks.withType<Test>().configureEach {
    systemProperty("java.library.path", rootProject.file("../.ci/cache/kotlin-jni").absolutePath)
    systemProperty("facekd.golden", rootProject.file("../tests/golden").absolutePath)
}
