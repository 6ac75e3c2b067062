#pragma once
/// @file Umbrella for greta/io: weight files (GGUF, SafeTensors + config.json, llama2.c).
#include <greta/io/mmap.hpp>
#include <greta/io/gguf_value.hpp>
#include <greta/io/gguf.hpp>
#include <greta/io/gguf_config.hpp>
#include <greta/io/gguf_writer.hpp>
#include <greta/io/tensor_elements.hpp>
#include <greta/io/model_file.hpp>
#include <greta/io/safetensors.hpp>
#include <greta/io/hf_config.hpp>
#include <greta/io/hf_checkpoint.hpp>
#include <greta/io/llama2c.hpp>
#include <greta/io/open_model_file.hpp>
