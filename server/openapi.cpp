// GET /openapi.json: the hand-written OpenAPI 3.0 description of the routes of DESIGN.md section 3 (kept
// beside routes.cpp; update both together). The servers entry is the configured public URL.
#include <nlohmann/json.hpp>

#include "server/routes.h"

namespace tc::server {

namespace {
constexpr const char* kOpenApi = R"json({
 "openapi": "3.0.3",
 "info": {
  "title": "tooncrafter",
  "version": "0.1.0",
  "description": "ToonCrafter keyframe interpolation with a Segmind-compatible API"
 },
 "servers": [
  {
   "url": "PUBLIC_URL"
  }
 ],
 "security": [
  {
   "apiKey": []
  }
 ],
 "components": {
  "securitySchemes": {
   "apiKey": {
    "type": "apiKey",
    "in": "header",
    "name": "x-api-key"
   }
  },
  "schemas": {
   "Error": {
    "type": "object",
    "properties": {
     "error": {
      "type": "string"
     }
    }
   },
   "Params": {
    "type": "object",
    "required": [
     "image_1",
     "image_2"
    ],
    "additionalProperties": false,
    "properties": {
     "prompt": {
      "type": "string",
      "default": "cartoon character animation"
     },
     "negative_prompt": {
      "type": "string",
      "default": "low quality"
     },
     "seed": {
      "type": "integer",
      "nullable": true,
      "minimum": 0,
      "default": 42,
      "description": "null draws a random seed"
     },
     "max_width": {
      "type": "integer",
      "enum": [
       256,
       512,
       768
      ],
      "default": 512
     },
     "max_height": {
      "type": "integer",
      "enum": [
       256,
       512,
       768
      ],
      "default": 512
     },
     "loop": {
      "type": "boolean",
      "default": false
     },
     "interpolate": {
      "type": "boolean",
      "default": false,
      "description": "FILM 2x frame interpolation"
     },
     "color_correction": {
      "type": "boolean",
      "default": true
     },
     "steps": {
      "type": "integer",
      "minimum": 1,
      "maximum": 200,
      "default": 20
     },
     "cfg_scale": {
      "type": "number",
      "minimum": 0,
      "maximum": 30,
      "default": 7.0
     },
     "frame_stride": {
      "type": "number",
      "minimum": 1,
      "maximum": 100,
      "default": 10
     },
     "frames_per_segment": {
      "type": "integer",
      "default": 16,
      "description": "must equal the model's temporal length"
     },
     "fps": {
      "type": "number",
      "minimum": 1,
      "maximum": 60,
      "description": "default 8 (16 when interpolated)"
     },
     "output_format": {
      "type": "string",
      "enum": [
       "mp4",
       "webm",
       "gif",
       "frames_zip"
      ],
      "default": "mp4"
     },
     "base64": {
      "type": "boolean",
      "default": false,
      "description": "return the output as base64 instead of a URL / bytes"
     },
     "webhook": {
      "type": "string",
      "format": "uri"
     },
     "webhook_events_filter": {
      "type": "array",
      "items": {
       "type": "string",
       "enum": [
        "completed",
        "failed",
        "start",
        "progress"
       ]
      }
     },
     "image_1": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (required)"
     },
     "image_2": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (required)"
     },
     "image_3": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (optional)"
     },
     "image_4": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (optional)"
     },
     "image_5": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (optional)"
     },
     "image_6": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (optional)"
     },
     "image_7": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (optional)"
     },
     "image_8": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (optional)"
     },
     "image_9": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (optional)"
     },
     "image_10": {
      "type": "string",
      "description": "http(s) URL, data: URI or bare base64 of a JPEG/PNG/WebP/GIF image (optional)"
     }
    }
   },
   "Submitted": {
    "type": "object",
    "properties": {
     "request_id": {
      "type": "string"
     },
     "status": {
      "type": "string"
     },
     "status_url": {
      "type": "string"
     },
     "response_url": {
      "type": "string"
     },
     "poll_url": {
      "type": "string"
     },
     "cancel_url": {
      "type": "string"
     },
     "events_url": {
      "type": "string"
     }
    }
   },
   "Status": {
    "type": "object",
    "properties": {
     "request_id": {
      "type": "string"
     },
     "status": {
      "type": "string",
      "enum": [
       "QUEUED",
       "PROCESSING",
       "COMPLETED",
       "FAILED"
      ]
     },
     "queue_position": {
      "type": "integer"
     },
     "progress": {
      "type": "object"
     },
     "metrics": {
      "type": "object"
     },
     "output": {
      "type": "string"
     },
     "error": {
      "type": "string"
     },
     "webhook": {
      "$ref": "#/components/schemas/WebhookState"
     }
    }
   },
   "WebhookState": {
    "type": "object",
    "description": "Extension (not in the Segmind API): the delivery of the request's webhook, present when the request has one. Never the secret, nor the URL's path or query.",
    "properties": {
     "url_host": {
      "type": "string",
      "description": "host[:port] of the webhook URL"
     },
     "event": {
      "type": "string",
      "enum": [
       "request.completed",
       "request.failed"
      ]
     },
     "webhook_id": {
      "type": "string",
      "description": "the webhook-id header, the same on every attempt (receivers deduplicate on it)"
     },
     "state": {
      "type": "string",
      "enum": [
       "pending",
       "delivered",
       "failed",
       "skipped"
      ],
      "description": "pending: not yet sent (the request runs) or retrying; failed: every attempt failed (or the URL is not allowed); skipped: webhook_events_filter excludes the event"
     },
     "next_attempt_at": {
      "type": "number",
      "description": "unix seconds of the next attempt, while retrying"
     },
     "deliveries": {
      "type": "array",
      "items": {
       "type": "object",
       "properties": {
        "attempt": {
         "type": "integer"
        },
        "at": {
         "type": "integer",
         "description": "unix seconds"
        },
        "http_status": {
         "type": "integer",
         "description": "0 when no HTTP answer arrived"
        },
        "error": {
         "type": "string",
         "description": "empty on success (2xx)"
        }
       }
      }
     }
    }
   }
  },
  "responses": {
   "BadRequest": {
    "description": "invalid parameters or body (the error names the field)",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "Unauthorized": {
    "description": "missing or invalid API key",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "Forbidden": {
    "description": "the API key was revoked",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "NotFound": {
    "description": "unknown or expired",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "InsufficientCredits": {
    "description": "insufficient credits (x-remaining-credits says how many are left)",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "Conflict": {
    "description": "Idempotency-Key reused with another body",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "TooLarge": {
    "description": "request body too large",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "UriTooLong": {
    "description": "request URI too long",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "GenerationFailed": {
    "description": "generation failed (the error says why)",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "RateLimited": {
    "description": "rate limited (see Retry-After)",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "InternalError": {
    "description": "internal server error (details in the server log)",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "NotReady": {
    "description": "the model is not ready yet (loading, or failed to load; see Retry-After and /health)",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   }
  }
 },
 "paths": {
  "/v1/tooncrafter": {
   "post": {
    "summary": "Generate a video synchronously",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Params"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "the video bytes (x-remaining-credits header when auth is on)",
      "content": {
       "video/mp4": {
        "schema": {
         "type": "string",
         "format": "binary"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "406": {
      "$ref": "#/components/responses/InsufficientCredits"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "422": {
      "$ref": "#/components/responses/GenerationFailed"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     },
     "503": {
      "$ref": "#/components/responses/NotReady"
     }
    }
   }
  },
  "/v2/tooncrafter": {
   "post": {
    "summary": "Submit an asynchronous generation",
    "parameters": [
     {
      "name": "Idempotency-Key",
      "in": "header",
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Params"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "queued",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Submitted"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "406": {
      "$ref": "#/components/responses/InsufficientCredits"
     },
     "409": {
      "$ref": "#/components/responses/Conflict"
     },
     "413": {
      "$ref": "#/components/responses/TooLarge"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     },
     "503": {
      "$ref": "#/components/responses/NotReady"
     }
    }
   }
  },
  "/v2/requests/{id}/status": {
   "get": {
    "summary": "Poll a request",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[0-9a-f]{32}$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "QUEUED, PROCESSING or COMPLETED",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "414": {
      "$ref": "#/components/responses/UriTooLong"
     },
     "422": {
      "description": "FAILED: the status, with the error",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/v2/requests/{id}": {
   "get": {
    "summary": "The result",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[0-9a-f]{32}$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "COMPLETED: output is the file URL",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "202": {
      "description": "still QUEUED or PROCESSING"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "414": {
      "$ref": "#/components/responses/UriTooLong"
     },
     "422": {
      "description": "FAILED: the status, with the error",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/v2/requests/{id}/cancel": {
   "post": {
    "summary": "Cancel: the work stops within one denoising step, then FAILED with error \"cancelled\"",
    "description": "Takes no request body (any body sent is ignored).",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[0-9a-f]{32}$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "cancel requested",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "414": {
      "$ref": "#/components/responses/UriTooLong"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/v2/requests/{id}/events": {
   "get": {
    "summary": "Server-sent events: status, progress, done",
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "pattern": "^[0-9a-f]{32}$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "text/event-stream"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "414": {
      "$ref": "#/components/responses/UriTooLong"
     },
     "429": {
      "$ref": "#/components/responses/RateLimited"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/files/{name}": {
   "get": {
    "summary": "An output file; no API key needed (the name is unguessable) while the result lives",
    "security": [],
    "parameters": [
     {
      "name": "name",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "the file"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     },
     "414": {
      "$ref": "#/components/responses/UriTooLong"
     }
    }
   }
  },
  "/health": {
   "get": {
    "summary": "Liveness and readiness",
    "security": [],
    "responses": {
     "200": {
      "description": "ready"
     },
     "503": {
      "description": "not ready"
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "summary": "Prometheus metrics",
    "security": [],
    "responses": {
     "200": {
      "description": "Prometheus text exposition"
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "summary": "This document",
    "security": [],
    "responses": {
     "200": {
      "description": "OpenAPI 3"
     }
    }
   }
  }
 }
})json";
}  // namespace

std::string openapi_json(const std::string& public_url) {
    nlohmann::json doc = nlohmann::json::parse(kOpenApi);
    doc["servers"] = nlohmann::json::array({{{"url", public_url}}});
    return doc.dump(2);
}

}  // namespace tc::server
