#!/usr/bin/env python3
"""Generates vigil_onnxruntime.h: a prefix of struct OrtApi, order copied by hand
from onnxruntime_c_api.h (microsoft/onnxruntime v1.13, ORT_API_VERSION 13) and
cross-read against v1.18 (ORT_API_VERSION 18, vendored in yalue/onnxruntime_go)."""
import re
import sys

# OrtApi members 0..130, in declaration order (ORT_CLASS_RELEASE(X) -> ReleaseX). 101..130 (up to
# AddSessionConfigEntry, for session options such as "session.intra_op.allow_spinning") read off the v1.18 header.
ORDER = """
CreateStatus GetErrorCode GetErrorMessage CreateEnv CreateEnvWithCustomLogger
EnableTelemetryEvents DisableTelemetryEvents CreateSession CreateSessionFromArray Run
CreateSessionOptions SetOptimizedModelFilePath CloneSessionOptions SetSessionExecutionMode
EnableProfiling DisableProfiling EnableMemPattern DisableMemPattern EnableCpuMemArena
DisableCpuMemArena SetSessionLogId SetSessionLogVerbosityLevel SetSessionLogSeverityLevel
SetSessionGraphOptimizationLevel SetIntraOpNumThreads SetInterOpNumThreads
CreateCustomOpDomain CustomOpDomain_Add AddCustomOpDomain RegisterCustomOpsLibrary
SessionGetInputCount SessionGetOutputCount SessionGetOverridableInitializerCount
SessionGetInputTypeInfo SessionGetOutputTypeInfo SessionGetOverridableInitializerTypeInfo
SessionGetInputName SessionGetOutputName SessionGetOverridableInitializerName
CreateRunOptions RunOptionsSetRunLogVerbosityLevel RunOptionsSetRunLogSeverityLevel
RunOptionsSetRunTag RunOptionsGetRunLogVerbosityLevel RunOptionsGetRunLogSeverityLevel
RunOptionsGetRunTag RunOptionsSetTerminate RunOptionsUnsetTerminate
CreateTensorAsOrtValue CreateTensorWithDataAsOrtValue IsTensor GetTensorMutableData
FillStringTensor GetStringTensorDataLength GetStringTensorContent
CastTypeInfoToTensorInfo GetOnnxTypeFromTypeInfo CreateTensorTypeAndShapeInfo
SetTensorElementType SetDimensions GetTensorElementType GetDimensionsCount GetDimensions
GetSymbolicDimensions GetTensorShapeElementCount GetTensorTypeAndShape GetTypeInfo
GetValueType CreateMemoryInfo CreateCpuMemoryInfo CompareMemoryInfo MemoryInfoGetName
MemoryInfoGetId MemoryInfoGetMemType MemoryInfoGetType AllocatorAlloc AllocatorFree
AllocatorGetInfo GetAllocatorWithDefaultOptions AddFreeDimensionOverride GetValue
GetValueCount CreateValue CreateOpaqueValue GetOpaqueValue KernelInfoGetAttribute_float
KernelInfoGetAttribute_int64 KernelInfoGetAttribute_string KernelContext_GetInputCount
KernelContext_GetOutputCount KernelContext_GetInput KernelContext_GetOutput
ReleaseEnv ReleaseStatus ReleaseMemoryInfo ReleaseSession ReleaseValue ReleaseRunOptions
ReleaseTypeInfo ReleaseTensorTypeAndShapeInfo ReleaseSessionOptions
ReleaseCustomOpDomain GetDenotationFromTypeInfo CastTypeInfoToMapTypeInfo
CastTypeInfoToSequenceTypeInfo GetMapKeyType GetMapValueType GetSequenceElementType
ReleaseMapTypeInfo ReleaseSequenceTypeInfo SessionEndProfiling SessionGetModelMetadata
ModelMetadataGetProducerName ModelMetadataGetGraphName ModelMetadataGetDomain
ModelMetadataGetDescription ModelMetadataLookupCustomMetadataMap ModelMetadataGetVersion
ReleaseModelMetadata CreateEnvWithGlobalThreadPools DisablePerSessionThreads
CreateThreadingOptions ReleaseThreadingOptions ModelMetadataGetCustomMetadataMapKeys
AddFreeDimensionOverrideByName GetAvailableProviders ReleaseAvailableProviders
GetStringTensorElementLength GetStringTensorElement FillStringTensorElement
AddSessionConfigEntry
""".split()

S = "OrtStatusPtr (*{n})"
# Declared members: name -> full declaration ({n} is the member name).
DECL = {
  "CreateStatus": "OrtStatus *(*{n})(OrtErrorCode code, const char *msg)",
  "GetErrorCode": "OrtErrorCode (*{n})(const OrtStatus *status)",
  "GetErrorMessage": "const char *(*{n})(const OrtStatus *status)",
  "CreateEnv": S + "(OrtLoggingLevel log_severity_level, const char *logid, OrtEnv **out)",
  "DisableTelemetryEvents": S + "(const OrtEnv *env)",
  "CreateSession": S + "(const OrtEnv *env, const char *model_path,\n                            const OrtSessionOptions *options, OrtSession **out)",
  "Run": S + "(OrtSession *session, const OrtRunOptions *run_options,\n                  const char *const *input_names, const OrtValue *const *inputs, size_t input_len,\n                  const char *const *output_names, size_t output_names_len, OrtValue **outputs)",
  "CreateSessionOptions": S + "(OrtSessionOptions **options)",
  "SetSessionGraphOptimizationLevel": S + "(OrtSessionOptions *options,\n                                               GraphOptimizationLevel graph_optimization_level)",
  "SetIntraOpNumThreads": S + "(OrtSessionOptions *options, int intra_op_num_threads)",
  "SetInterOpNumThreads": S + "(OrtSessionOptions *options, int inter_op_num_threads)",
  "SessionGetInputCount": S + "(const OrtSession *session, size_t *out)",
  "SessionGetOutputCount": S + "(const OrtSession *session, size_t *out)",
  "SessionGetInputTypeInfo": S + "(const OrtSession *session, size_t index, OrtTypeInfo **type_info)",
  "SessionGetOutputTypeInfo": S + "(const OrtSession *session, size_t index, OrtTypeInfo **type_info)",
  "SessionGetInputName": S + "(const OrtSession *session, size_t index, OrtAllocator *allocator,\n                                  char **value)",
  "SessionGetOutputName": S + "(const OrtSession *session, size_t index, OrtAllocator *allocator,\n                                   char **value)",
  "CreateTensorWithDataAsOrtValue": S + "(const OrtMemoryInfo *info, void *p_data, size_t p_data_len,\n                                             const int64_t *shape, size_t shape_len,\n                                             ONNXTensorElementDataType type, OrtValue **out)",
  "GetTensorMutableData": S + "(OrtValue *value, void **out)",
  "CastTypeInfoToTensorInfo": S + "(const OrtTypeInfo *type_info, const OrtTensorTypeAndShapeInfo **out)",
  "GetTensorElementType": S + "(const OrtTensorTypeAndShapeInfo *info, ONNXTensorElementDataType *out)",
  "GetDimensionsCount": S + "(const OrtTensorTypeAndShapeInfo *info, size_t *out)",
  "GetDimensions": S + "(const OrtTensorTypeAndShapeInfo *info, int64_t *dim_values,\n                            size_t dim_values_length)",
  "GetTensorShapeElementCount": S + "(const OrtTensorTypeAndShapeInfo *info, size_t *out)",
  "GetTensorTypeAndShape": S + "(const OrtValue *value, OrtTensorTypeAndShapeInfo **out)",
  "CreateCpuMemoryInfo": S + "(OrtAllocatorType type, OrtMemType mem_type, OrtMemoryInfo **out)",
  "AllocatorFree": S + "(OrtAllocator *ort_allocator, void *p)",
  "GetAllocatorWithDefaultOptions": S + "(OrtAllocator **out)",
  "AddSessionConfigEntry": S + "(OrtSessionOptions *options, const char *config_key,\n                                    const char *config_value)",
}
for cls in ["Env", "Status", "MemoryInfo", "Session", "Value", "TypeInfo",
            "TensorTypeAndShapeInfo", "SessionOptions"]:
    DECL["Release" + cls] = "void (*{n})(Ort%s *input)" % cls

assert len(ORDER) == 131 and len(set(ORDER)) == 131, len(ORDER)
missing = set(DECL) - set(ORDER)
assert not missing, missing

body = []
for i, n in enumerate(ORDER):
    if n in DECL:
        decl = re.sub(r"\n\s+", "\n      ", DECL[n].format(n=n))
        body.append("  %s; /* %d */" % (decl, i))
    else:
        body.append("  void *%s; /* %d */" % (n, i))
asserts = "\n".join(
    "VIGIL_ORT_SLOT_CHECK(%s, %d);" % (n, i) for i, n in enumerate(ORDER) if n in DECL)

tmpl = open(sys.argv[1]).read()
sys.stdout.write(tmpl.replace("@@MEMBERS@@", "\n".join(body))
                     .replace("@@COUNT@@", str(len(ORDER)))
                     .replace("@@LAST@@", str(len(ORDER) - 1))
                     .replace("@@ASSERTS@@", asserts))
