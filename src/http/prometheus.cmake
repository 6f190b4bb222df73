# waitroom_prometheus: the Prometheus text format writer and histogram. Kept apart from the
# HTTP server library so that it builds and is tested on its own; included by
# src/http/CMakeLists.txt.
add_library(waitroom_prometheus STATIC ${CMAKE_CURRENT_LIST_DIR}/prometheus.cpp)
target_include_directories(waitroom_prometheus PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(waitroom_prometheus PRIVATE waitroom_warnings)
