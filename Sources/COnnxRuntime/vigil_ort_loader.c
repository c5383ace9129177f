#include "vigil_ort_loader.h"

#include <dlfcn.h>
#include <stdio.h>

typedef const OrtApiBase *(*vigil_get_api_base)(void);

const OrtApi *vigil_ort_load(const char *path, const char **version, char *error, size_t error_size) {
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(error, error_size, "%s", dlerror());
        return NULL;
    }
    vigil_get_api_base get = (vigil_get_api_base)dlsym(library, "OrtGetApiBase");
    if (get == NULL) {
        snprintf(error, error_size, "%s has no OrtGetApiBase: not an ONNX Runtime library", path);
        return NULL;
    }
    const OrtApiBase *base = get();
    const OrtApi *api = base->GetApi(VIGIL_ORT_API_VERSION);
    if (api == NULL) {
        snprintf(error, error_size, "ONNX Runtime %s does not offer API version %d", base->GetVersionString(),
            VIGIL_ORT_API_VERSION);
        return NULL;
    }
    *version = base->GetVersionString();
    /* The library stays loaded for the life of the process: sessions hold code from it. */
    return api;
}
