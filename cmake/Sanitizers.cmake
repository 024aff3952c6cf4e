function(netfence_set_sanitizers target)
  if(NETFENCE_SANITIZE)
    target_compile_options(${target} INTERFACE
      -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
      $<$<CXX_COMPILER_ID:Clang>:-fno-sanitize=function>)  # clang-14 + coroutines backend bug
    target_link_options(${target} INTERFACE -fsanitize=address,undefined)
  endif()
endfunction()
