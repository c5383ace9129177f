#ifndef VIGIL_ORT_LOADER_H
#define VIGIL_ORT_LOADER_H

#include "vigil_onnxruntime.h"

/*
 * Opens the ONNX Runtime shared library at `path` (dlopen) and returns its OrtApi table for
 * VIGIL_ORT_API_VERSION, or NULL with a reason in `error`. `version` receives the runtime's version string.
 * Loading the library at run time keeps it out of the build: Vigil builds and runs everything but detection
 * without it, and says where to get it when detection is asked for.
 */
const OrtApi *vigil_ort_load(const char *path, const char **version, char *error, size_t error_size);

#endif
