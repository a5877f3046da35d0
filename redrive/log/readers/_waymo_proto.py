"""The subset of the Waymo Open Dataset v1 ``Frame`` message that the reader uses.

Written here from the public format's field numbers (dataset.proto and label.proto of the
Waymo Open Dataset) so that reading needs only ``protobuf``, neither TensorFlow nor the
``waymo-open-dataset`` package. Fields not declared here are skipped by the parser (they stay in
the messages' unknown fields). Enumerations are declared as ``int32``: they share the varint
wire encoding, and a value this module does not know then reaches the reader, which reports it,
instead of vanishing into unknown fields.
"""

from __future__ import annotations

from functools import lru_cache

PACKAGE = "redrive.waymo_v1"

CAMERA_NAMES = {1: "front", 2: "front_left", 3: "front_right", 4: "side_left", 5: "side_right",
                6: "rear_left", 7: "rear", 8: "rear_right"}
"""CameraName.Name -> sensor name used in the DriveLog (the source's names, lowercased)."""
LASER_NAMES = {1: "top", 2: "front", 3: "side_left", 4: "side_right", 5: "rear"}
"""LaserName.Name -> sensor name used in the DriveLog."""
LABEL_TYPES = {0: "unknown", 1: "vehicle", 2: "pedestrian", 3: "sign", 4: "cyclist"}
"""Label.Type -> name."""
ROLLING_SHUTTER = {1: "top_to_bottom", 2: "left_to_right", 3: "bottom_to_top", 4: "right_to_left", 5: "global"}
"""CameraCalibration.RollingShutterReadOutDirection -> direction (``global``: no rolling shutter)."""

# (message name, [(field name, number, type, repeated, message type or None)])
_D, _F, _I32, _I64, _S, _B, _M = "double", "float", "int32", "int64", "string", "bytes", "message"
_MESSAGES: list[tuple[str, list[tuple[str, int, str, bool, str | None]]]] = [
    ("MatrixShape", [("dims", 1, _I32, True, None)]),
    ("MatrixFloat", [("data", 1, _F, True, None), ("shape", 2, _M, False, "MatrixShape")]),
    ("MatrixInt32", [("data", 1, _I32, True, None), ("shape", 2, _M, False, "MatrixShape")]),
    ("Transform", [("transform", 1, _D, True, None)]),
    ("Velocity", [("v_x", 1, _F, False, None), ("v_y", 2, _F, False, None), ("v_z", 3, _F, False, None),
                  ("w_x", 4, _D, False, None), ("w_y", 5, _D, False, None), ("w_z", 6, _D, False, None)]),
    ("CameraCalibration", [("name", 1, _I32, False, None), ("intrinsic", 2, _D, True, None),
                           ("extrinsic", 3, _M, False, "Transform"), ("width", 4, _I32, False, None),
                           ("height", 5, _I32, False, None), ("rolling_shutter_direction", 6, _I32, False, None)]),
    ("LaserCalibration", [("name", 1, _I32, False, None), ("beam_inclinations", 2, _D, True, None),
                          ("beam_inclination_min", 3, _D, False, None), ("beam_inclination_max", 4, _D, False, None),
                          ("extrinsic", 5, _M, False, "Transform")]),
    ("Stats", [("time_of_day", 2, _S, False, None), ("location", 3, _S, False, None), ("weather", 4, _S, False, None)]),
    ("Context", [("name", 1, _S, False, None), ("camera_calibrations", 2, _M, True, "CameraCalibration"),
                 ("laser_calibrations", 3, _M, True, "LaserCalibration"), ("stats", 4, _M, False, "Stats")]),
    ("RangeImage", [("range_image_compressed", 2, _B, False, None), ("camera_projection_compressed", 3, _B, False, None),
                    ("range_image_pose_compressed", 4, _B, False, None)]),
    ("CameraImage", [("name", 1, _I32, False, None), ("image", 2, _B, False, None), ("pose", 3, _M, False, "Transform"),
                     ("velocity", 4, _M, False, "Velocity"), ("pose_timestamp", 5, _D, False, None),
                     ("shutter", 6, _D, False, None), ("camera_trigger_time", 7, _D, False, None),
                     ("camera_readout_done_time", 8, _D, False, None)]),
    ("Box", [("center_x", 1, _D, False, None), ("center_y", 2, _D, False, None), ("center_z", 3, _D, False, None),
             ("width", 4, _D, False, None), ("length", 5, _D, False, None), ("height", 6, _D, False, None),
             ("heading", 7, _D, False, None)]),
    ("Association", [("laser_object_id", 1, _S, False, None)]),
    ("Label", [("box", 1, _M, False, "Box"), ("type", 3, _I32, False, None), ("id", 4, _S, False, None),
               ("num_lidar_points_in_box", 7, _I32, False, None),
               ("association", 10, _M, False, "Association"), ("most_visible_camera_name", 11, _S, False, None),
               ("camera_synced_box", 12, _M, False, "Box"), ("num_top_lidar_points_in_box", 13, _I32, False, None)]),
    ("CameraLabels", [("name", 1, _I32, False, None), ("labels", 2, _M, True, "Label")]),
    ("Laser", [("name", 1, _I32, False, None), ("ri_return1", 2, _M, False, "RangeImage"),
               ("ri_return2", 3, _M, False, "RangeImage")]),
    ("Frame", [("context", 1, _M, False, "Context"), ("timestamp_micros", 2, _I64, False, None),
               ("pose", 3, _M, False, "Transform"), ("images", 4, _M, True, "CameraImage"),
               ("lasers", 5, _M, True, "Laser"), ("laser_labels", 6, _M, True, "Label"),
               ("camera_labels", 8, _M, True, "CameraLabels"), ("projected_lidar_labels", 9, _M, True, "CameraLabels")]),
]


@lru_cache(maxsize=1)
def messages() -> dict[str, type]:
    """Message classes by name (``Frame``, ``MatrixFloat``, ...), built once."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="redrive_waymo_v1_subset.proto", package=PACKAGE, syntax="proto2")
    F = descriptor_pb2.FieldDescriptorProto
    types = {_D: F.TYPE_DOUBLE, _F: F.TYPE_FLOAT, _I32: F.TYPE_INT32, _I64: F.TYPE_INT64,
             _S: F.TYPE_STRING, _B: F.TYPE_BYTES, _M: F.TYPE_MESSAGE}
    for msg_name, fields in _MESSAGES:
        msg = fdp.message_type.add(name=msg_name)
        for name, number, kind, repeated, type_name in fields:
            field = msg.field.add(name=name, number=number, type=types[kind],
                                  label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if type_name:
                field.type_name = f".{PACKAGE}.{type_name}"
            if repeated and kind in (_F, _I32, _D):
                # Writers emit packed arrays; the parser accepts both encodings either way.
                field.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())
    file_desc = pool.FindFileByName(fdp.name)
    return {name: message_factory.GetMessageClass(file_desc.message_types_by_name[name]) for name, _ in _MESSAGES}
