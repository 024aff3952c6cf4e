# NETFENCE_SANITIZE (ASan + UBSan) and NETFENCE_TSAN (ThreadSanitizer) are exclusive: the runtimes
# cannot be combined in one binary. TSan is meant for clang-14 (`./dev tsan`): g++ 12 warns that
# it does not support atomic_thread_fence, which Asio uses (cpp-stack A.5-6), and its reports may
# then be false positives.
option(NETFENCE_TSAN "Build with ThreadSanitizer (clang)" OFF)
if(NETFENCE_TSAN AND NETFENCE_SANITIZE)
  message(FATAL_ERROR "NETFENCE_TSAN and NETFENCE_SANITIZE cannot be combined")
endif()

function(netfence_set_sanitizers target)
  if(NETFENCE_SANITIZE)
    target_compile_options(${target} INTERFACE
      -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
      $<$<CXX_COMPILER_ID:Clang>:-fno-sanitize=function>)  # clang-14 + coroutines backend bug
    target_link_options(${target} INTERFACE -fsanitize=address,undefined)
  endif()
  if(NETFENCE_TSAN)
    target_compile_options(${target} INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
    target_link_options(${target} INTERFACE -fsanitize=thread)
  endif()
endfunction()
