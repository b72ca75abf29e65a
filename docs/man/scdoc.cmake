# SPDX-License-Identifier: BSD-2-Clause
# cmake -DSCDOC=scdoc -DGZIP=gzip -DIN=page.8.scd -DOUT=page.8 -P scdoc.cmake: OUT.gz from IN.
execute_process(COMMAND ${SCDOC} INPUT_FILE ${IN} OUTPUT_FILE ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
	file(REMOVE ${OUT})
	message(FATAL_ERROR "scdoc failed on ${IN} (${rc})")
endif()
# -n: no name or time stamp in the file, so that a rebuild makes the same bytes.
execute_process(COMMAND ${GZIP} -9nf ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
	message(FATAL_ERROR "gzip failed on ${OUT} (${rc})")
endif()
