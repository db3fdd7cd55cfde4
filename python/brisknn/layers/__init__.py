"""Keras-named layers."""
from brisknn.layers.activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from brisknn.layers.base import Layer
from brisknn.layers.conv import (Conv1D, Conv2D, Conv2DTranspose, Convolution1D, Convolution2D,
                                 Convolution2DTranspose)
from brisknn.layers.conv_depthwise import (DepthwiseConv2D, SeparableConv2D,
                                           SeparableConvolution2D)
from brisknn.layers.core import (Activation, Dense, Dropout, Flatten, Input, InputLayer,
                                 Masking, Reshape)
from brisknn.layers.lambda_layer import Identity, Lambda
from brisknn.layers.embedding import Embedding, GlobalAveragePooling1D, GlobalAvgPool1D
from brisknn.layers.normalization import BatchNormalization, LayerNormalization
from brisknn.layers.pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D,
                                    GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool1D,
                                    GlobalMaxPool2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                                    MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
from brisknn.layers.recurrent import GRU, LSTM, SimpleRNN
from brisknn.layers.noise import (GaussianDropout, GaussianNoise, SpatialDropout1D,
                                  SpatialDropout2D)
from brisknn.layers.reshaping import (Cropping1D, Cropping2D, Permute, RepeatVector,
                                      UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D)
from brisknn.layers.preprocessing import Normalization, Rescaling
from brisknn.layers.wrappers import Bidirectional, TimeDistributed

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
           "Masking", "Conv1D", "Convolution1D", "MaxPooling1D", "MaxPool1D",
           "AveragePooling1D", "AvgPool1D", "Conv2D", "Convolution2D", "Conv2DTranspose",
           "Convolution2DTranspose", "MaxPooling2D", "MaxPool2D", "AveragePooling2D",
           "AvgPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D",
           "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPool1D", "Embedding",
           "GlobalAveragePooling1D", "GlobalAvgPool1D", "SimpleRNN", "LSTM", "GRU",
           "Bidirectional", "UpSampling2D", "ZeroPadding2D", "LeakyReLU", "BatchNormalization"]
__all__ += ["Rescaling", "TimeDistributed", "ReLU", "Softmax", "ELU", "Normalization",
            "RepeatVector", "Permute", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
            "GaussianDropout", "LayerNormalization", "PReLU", "UpSampling1D", "ZeroPadding1D",
            "Cropping1D", "Cropping2D", "DepthwiseConv2D", "SeparableConv2D",
            "SeparableConvolution2D", "Lambda", "Identity"]
