/// The API document served at `GET /openapi.json` (OpenAPI 3.1). Kept by hand next to the
/// routes; `OpenAPIDocumentTests` checks it names exactly the routes the router has.
enum OpenAPIDocument {
    static let json: String = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "MultiPAR supervisor API",
        "version": "0.1.0",
        "description": "The HTTP API of `par serve`: lifecycle of agents, their logs and metrics, and the proxy to them. Everything but /runtime/health, /openapi.json and /agents/* needs the management token (`Authorization: Bearer <token>`, from <data-dir>/token). Errors are JSON `{\"error\", \"detail\", \"field\"?}`. Besides what each operation lists, any request may get 400 (a malformed request, an empty path segment `//`, a refused WebSocket upgrade), 404 (no such route or method), 408 (not sent in time), 413 (a body declared over 1 MiB), 431 (head too large), 501 (a transfer coding other than chunked) and 503 with Retry-After (too many connections)."
      },
      "tags": [
        {
          "name": "runtime",
          "description": "The daemon itself."
        },
        {
          "name": "supervisor",
          "description": "Agents' lifecycle."
        },
        {
          "name": "logs",
          "description": "Agents' and the supervisor's log lines."
        },
        {
          "name": "agents",
          "description": "The proxy to the agents."
        }
      ],
      "security": [
        {
          "bearer": []
        },
        {
          "session": []
        }
      ],
      "paths": {
        "/runtime/health": {
          "get": {
            "operationId": "runtimeHealth",
            "tags": [
              "runtime"
            ],
            "summary": "Liveness of the daemon itself",
            "description": "Needs no token.",
            "security": [],
            "responses": {
              "200": {
                "description": "The daemon runs.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/RuntimeHealth"
                    }
                  }
                }
              }
            }
          },
          "head": {
            "operationId": "runtimeHealthHead",
            "tags": [
              "runtime"
            ],
            "summary": "Liveness of the daemon itself, without a body",
            "description": "For health checkers that ask with HEAD. Needs no token.",
            "security": [],
            "responses": {
              "200": {
                "description": "The daemon runs."
              }
            }
          }
        },
        "/openapi.json": {
          "get": {
            "operationId": "openAPIDocument",
            "tags": [
              "runtime"
            ],
            "summary": "This document",
            "description": "The OpenAPI 3.1 document of this API. Needs no token.",
            "security": [],
            "responses": {
              "200": {
                "description": "The document.",
                "content": {
                  "application/json": {
                    "schema": {
                      "type": "object",
                      "required": [
                        "openapi",
                        "info",
                        "paths"
                      ]
                    }
                  }
                }
              }
            }
          }
        },
        "/ui": {
          "get": {
            "operationId": "dashboard",
            "tags": [
              "ui"
            ],
            "summary": "The web dashboard",
            "description": "An HTML page served from the daemon (no CDN): the agent table updated live from /supervisor/events, CPU and memory sparklines, a live log tail with level, stream and text filters, and stop, restart, rolling restart and remove with confirmation. It holds no data, so it needs no token; it signs in at /ui/session. On the dashboard's own port (`--ui-port`) it is the page; on the API port a 307 sends the browser there (404 with `--no-dashboard`).",
            "security": [],
            "responses": {
              "200": {
                "description": "The page (on the dashboard's port).",
                "content": {
                  "text/html": {
                    "schema": {
                      "type": "string"
                    }
                  }
                }
              },
              "307": {
                "description": "On the API port: the page is on the dashboard's port.",
                "headers": {
                  "Location": {
                    "required": true,
                    "schema": {
                      "type": "string"
                    },
                    "description": "http://HOST:UI_PORT/ui"
                  }
                }
              },
              "404": {
                "$ref": "#/components/responses/DashboardElsewhere"
              }
            }
          }
        },
        "/ui/app.js": {
          "get": {
            "operationId": "dashboardScript",
            "tags": [
              "ui"
            ],
            "summary": "The dashboard's script",
            "description": "The page's script. Served on the dashboard's own port (`--ui-port`, default the API port minus one), never on the port agents' pages share: there a session could be used by an agent's page. On the API port this answers 404 naming the dashboard's address (or saying the dashboard is off, `--no-dashboard`).",
            "security": [],
            "responses": {
              "200": {
                "description": "The script.",
                "content": {
                  "text/javascript": {
                    "schema": {
                      "type": "string"
                    }
                  }
                }
              },
              "404": {
                "$ref": "#/components/responses/DashboardElsewhere"
              }
            }
          }
        },
        "/ui/session": {
          "get": {
            "operationId": "session",
            "tags": [
              "ui"
            ],
            "summary": "The current dashboard session",
            "description": "With a live session cookie, its CSRF token; 401 without one. Served on the dashboard's own port (`--ui-port`, default the API port minus one), never on the port agents' pages share: there a session could be used by an agent's page. On the API port this answers 404 naming the dashboard's address (or saying the dashboard is off, `--no-dashboard`).",
            "security": [
              {
                "session": []
              }
            ],
            "responses": {
              "200": {
                "description": "The session.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/SessionAnswer"
                    }
                  }
                }
              },
              "401": {
                "$ref": "#/components/responses/Unauthorized"
              },
              "403": {
                "description": "An `Origin` other than the dashboard's own (a page on another port, such as an agent's): its CSRF token is not handed out.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "404": {
                "$ref": "#/components/responses/DashboardElsewhere"
              }
            }
          },
          "post": {
            "operationId": "signIn",
            "tags": [
              "ui"
            ],
            "summary": "Exchange the token for a session cookie",
            "description": "Sets `par_session` (HttpOnly, SameSite=Strict, Path=/, Max-Age from --ui-session-timeout) and answers the session's CSRF token. With the cookie, every request that changes state needs `X-CSRF-Token` and must not come from another site (`Sec-Fetch-Site`), else 403; a request with an `Origin` other than the dashboard's own is refused (403), reads and WebSocket upgrades included. Served on the dashboard's own port (`--ui-port`, default the API port minus one), never on the port agents' pages share: there a session could be used by an agent's page. On the API port this answers 404 naming the dashboard's address (or saying the dashboard is off, `--no-dashboard`).",
            "security": [],
            "requestBody": {
              "required": true,
              "content": {
                "application/json": {
                  "schema": {
                    "$ref": "#/components/schemas/SignIn"
                  }
                }
              }
            },
            "responses": {
              "200": {
                "description": "Signed in.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/SessionAnswer"
                    }
                  }
                },
                "headers": {
                  "Set-Cookie": {
                    "schema": {
                      "type": "string"
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
              "404": {
                "$ref": "#/components/responses/DashboardElsewhere"
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              }
            }
          },
          "delete": {
            "operationId": "signOut",
            "tags": [
              "ui"
            ],
            "summary": "End the dashboard session",
            "description": "Ends the session of the cookie sent (with its X-CSRF-Token) and clears the cookie. Served on the dashboard's own port (`--ui-port`, default the API port minus one), never on the port agents' pages share: there a session could be used by an agent's page. On the API port this answers 404 naming the dashboard's address (or saying the dashboard is off, `--no-dashboard`).",
            "responses": {
              "200": {
                "description": "Signed out.",
                "content": {
                  "application/json": {
                    "schema": {
                      "type": "object",
                      "required": [
                        "status",
                        "signed_out"
                      ],
                      "properties": {
                        "status": {
                          "type": "string",
                          "const": "success"
                        },
                        "signed_out": {
                          "type": "boolean"
                        }
                      }
                    }
                  }
                }
              },
              "401": {
                "$ref": "#/components/responses/Unauthorized"
              },
              "404": {
                "$ref": "#/components/responses/DashboardElsewhere"
              }
            }
          }
        },
        "/supervisor/spawn": {
          "post": {
            "operationId": "spawn",
            "tags": [
              "supervisor"
            ],
            "summary": "Start an agent from a package",
            "requestBody": {
              "required": true,
              "content": {
                "application/json": {
                  "schema": {
                    "$ref": "#/components/schemas/SpawnRequest"
                  }
                }
              }
            },
            "responses": {
              "200": {
                "description": "Started (`state` is `starting`, `waiting` or `preparing` until it is ready).",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/LaunchAnswer"
                    }
                  }
                },
                "links": {
                  "GetProcess": {
                    "operationId": "process",
                    "parameters": {
                      "process_id": "$response.body#/process_id"
                    }
                  },
                  "StopProcess": {
                    "operationId": "stop",
                    "parameters": {
                      "process_id": "$response.body#/process_id"
                    }
                  },
                  "RestartProcess": {
                    "operationId": "restart",
                    "parameters": {
                      "process_id": "$response.body#/process_id"
                    }
                  },
                  "ProxyToAgent": {
                    "operationId": "proxyGetRoot",
                    "parameters": {
                      "agent_id": "$response.body#/process/agent_id"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadSpec"
              },
              "401": {
                "$ref": "#/components/responses/Unauthorized"
              },
              "403": {
                "$ref": "#/components/responses/Forbidden"
              },
              "409": {
                "description": "Already running, a quota would be exceeded (`field` names it), or the agent is declared by the config file.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              },
              "422": {
                "description": "The package or the limits cannot run here (a program that does not exist, an unsupported package, limits without cgroups).",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "500": {
                "$ref": "#/components/responses/ServerError"
              },
              "503": {
                "description": "No free port in --port-range, or the daemon is shutting down.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              }
            }
          }
        },
        "/supervisor/status": {
          "get": {
            "operationId": "status",
            "tags": [
              "supervisor"
            ],
            "summary": "Every process, the routes and the quotas",
            "responses": {
              "200": {
                "description": "The supervisor's state.",
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
              }
            }
          }
        },
        "/supervisor/health": {
          "get": {
            "operationId": "fleetHealth",
            "tags": [
              "supervisor"
            ],
            "summary": "Health of every agent, from cached probes",
            "description": "`healthy` when every live agent is healthy (or there is none) and none has failed, `unhealthy` when no live agent is healthy, `degraded` otherwise: some live agents unhealthy, any agent `failed` (`failed_agents`), or the log store cannot write.",
            "responses": {
              "200": {
                "description": "The fleet's health.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/FleetHealth"
                    }
                  }
                }
              },
              "401": {
                "$ref": "#/components/responses/Unauthorized"
              }
            }
          }
        },
        "/supervisor/processes/{process_id}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/process_id_path"
            }
          ],
          "get": {
            "operationId": "process",
            "tags": [
              "supervisor"
            ],
            "summary": "One process",
            "responses": {
              "200": {
                "description": "The process.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Process"
                    }
                  }
                }
              },
              "401": {
                "$ref": "#/components/responses/Unauthorized"
              },
              "404": {
                "$ref": "#/components/responses/NotFound"
              }
            }
          },
          "delete": {
            "operationId": "remove",
            "tags": [
              "supervisor"
            ],
            "summary": "Remove an agent from the table for good",
            "description": "Its record, route, desired state and port go; its log lines stay until retention ages them out. A live agent needs `force=true` (it is stopped first). 409 without it, for an agent a config file declares (remove it there and reload) and for one other agents depend on.",
            "parameters": [
              {
                "name": "force",
                "in": "query",
                "description": "Stop it first if it is live.",
                "schema": {
                  "type": "string",
                  "enum": [
                    "true",
                    "false"
                  ]
                }
              }
            ],
            "responses": {
              "200": {
                "description": "Removed.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/RemovalAnswer"
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
              "404": {
                "$ref": "#/components/responses/NotFound"
              },
              "409": {
                "description": "Not removed: it is live and `force` was not given, a config file declares it, or other agents depend on it; `detail` says which.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "500": {
                "$ref": "#/components/responses/ServerError"
              }
            }
          }
        },
        "/supervisor/stop/{process_id}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/process_id_path"
            }
          ],
          "post": {
            "operationId": "stop",
            "tags": [
              "supervisor"
            ],
            "summary": "Stop a process (SIGTERM, then SIGKILL after the timeout)",
            "description": "The agent stays stopped, also across daemon restarts, until it is restarted.",
            "parameters": [
              {
                "name": "timeout",
                "in": "query",
                "description": "Seconds between SIGTERM and SIGKILL; wins over the body's stop_timeout_seconds.",
                "schema": {
                  "type": "number",
                  "minimum": 0,
                  "maximum": 3600
                }
              }
            ],
            "requestBody": {
              "required": false,
              "content": {
                "application/json": {
                  "schema": {
                    "$ref": "#/components/schemas/StopRequest"
                  }
                }
              }
            },
            "responses": {
              "200": {
                "description": "Stopped.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/ProcessAnswer"
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
              "404": {
                "$ref": "#/components/responses/NotFound"
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              },
              "500": {
                "$ref": "#/components/responses/ServerError"
              }
            }
          }
        },
        "/supervisor/restart/{process_id}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/process_id_path"
            }
          ],
          "post": {
            "operationId": "restart",
            "tags": [
              "supervisor"
            ],
            "summary": "Restart a process, optionally with changed spec fields",
            "description": "`strategy=rolling` starts the next run beside the current one, switches once it is ready, drains, then stops the old one.",
            "parameters": [
              {
                "name": "strategy",
                "in": "query",
                "description": "stop-start (default) or rolling.",
                "schema": {
                  "type": "string",
                  "enum": [
                    "stop-start",
                    "rolling"
                  ]
                }
              },
              {
                "name": "drain_timeout",
                "in": "query",
                "description": "strategy=rolling only: seconds the old run may finish its requests (default its stop_timeout_seconds).",
                "schema": {
                  "type": "number",
                  "minimum": 0,
                  "maximum": 3600
                }
              }
            ],
            "requestBody": {
              "required": false,
              "content": {
                "application/json": {
                  "schema": {
                    "$ref": "#/components/schemas/RestartRequest"
                  }
                }
              }
            },
            "responses": {
              "200": {
                "description": "Restarted.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/LaunchAnswer"
                    }
                  }
                }
              },
              "400": {
                "$ref": "#/components/responses/BadSpec"
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
              "409": {
                "description": "A quota would be exceeded, the agent is declared by the config file (and the body changes it), a rolling restart of it is in progress, or it changed meanwhile.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              },
              "422": {
                "description": "The package or the limits cannot run here.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "500": {
                "$ref": "#/components/responses/ServerError"
              },
              "502": {
                "description": "A rolling restart's next run exited or never got ready; the current run keeps serving.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "503": {
                "description": "No free port, or the daemon is shutting down.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              }
            }
          }
        },
        "/supervisor/reload": {
          "post": {
            "operationId": "reload",
            "tags": [
              "supervisor"
            ],
            "summary": "Re-read the --config file and apply it",
            "description": "Like `kubectl apply`: new agents start, removed ones stop, changed ones restart. Takes no body (or `{}`).",
            "requestBody": {
              "required": false,
              "content": {
                "application/json": {
                  "schema": {
                    "type": "object",
                    "maxProperties": 0,
                    "additionalProperties": false
                  }
                }
              }
            },
            "responses": {
              "200": {
                "description": "Applied.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/ReloadReport"
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
              "409": {
                "description": "The daemon runs without --config, or a reload is already in progress.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "413": {
                "$ref": "#/components/responses/ContentTooLarge"
              },
              "415": {
                "$ref": "#/components/responses/UnsupportedMediaType"
              },
              "422": {
                "description": "The config file is invalid (`errors`: one `file:line: key: message` each); nothing changed.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "500": {
                "$ref": "#/components/responses/ServerError"
              },
              "503": {
                "description": "The daemon is shutting down.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              }
            }
          }
        },
        "/supervisor/logs": {
          "get": {
            "operationId": "queryLogs",
            "tags": [
              "logs"
            ],
            "summary": "Stored log lines, filtered, a page at a time",
            "description": "Unknown or empty parameters are refused.",
            "parameters": [
              {
                "$ref": "#/components/parameters/log_process_id"
              },
              {
                "$ref": "#/components/parameters/log_with_events"
              },
              {
                "$ref": "#/components/parameters/log_level"
              },
              {
                "$ref": "#/components/parameters/log_min_level"
              },
              {
                "$ref": "#/components/parameters/log_since"
              },
              {
                "$ref": "#/components/parameters/log_until"
              },
              {
                "$ref": "#/components/parameters/log_stream"
              },
              {
                "$ref": "#/components/parameters/log_q"
              },
              {
                "$ref": "#/components/parameters/log_order"
              },
              {
                "$ref": "#/components/parameters/log_limit"
              },
              {
                "$ref": "#/components/parameters/log_cursor"
              }
            ],
            "responses": {
              "200": {
                "description": "A page of lines.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/LogPage"
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
              "500": {
                "$ref": "#/components/responses/ServerError"
              }
            }
          },
          "delete": {
            "operationId": "clearLogs",
            "tags": [
              "logs"
            ],
            "summary": "Remove stored log lines (of one process, or all)",
            "parameters": [
              {
                "$ref": "#/components/parameters/log_process_id"
              }
            ],
            "responses": {
              "200": {
                "description": "Removed.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/LogClear"
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
              "503": {
                "description": "The log store cannot write now; the clear is applied once it can.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              }
            }
          }
        },
        "/supervisor/logs/stats": {
          "get": {
            "operationId": "logStatistics",
            "tags": [
              "logs"
            ],
            "summary": "What the log store holds",
            "responses": {
              "200": {
                "description": "Counts.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/LogStatistics"
                    }
                  }
                }
              },
              "401": {
                "$ref": "#/components/responses/Unauthorized"
              },
              "500": {
                "$ref": "#/components/responses/ServerError"
              }
            }
          }
        },
        "/supervisor/logs/stream": {
          "get": {
            "operationId": "streamLogs",
            "tags": [
              "logs"
            ],
            "summary": "Live log lines as Server-Sent Events",
            "description": "The last `tail` matching lines (or every one after `after` / `Last-Event-ID`), then live ones, never ending. Each event's `id:` is the line's sequence and its `data:` a LogEntry; a reader too slow gets `event: gap` with `{missed, first_sequence, last_sequence, cursor}`; an idle stream sends a `: keep-alive` comment every 15 s.",
            "parameters": [
              {
                "$ref": "#/components/parameters/log_process_id"
              },
              {
                "$ref": "#/components/parameters/log_with_events"
              },
              {
                "$ref": "#/components/parameters/log_level"
              },
              {
                "$ref": "#/components/parameters/log_min_level"
              },
              {
                "$ref": "#/components/parameters/log_since"
              },
              {
                "$ref": "#/components/parameters/log_until"
              },
              {
                "$ref": "#/components/parameters/log_stream"
              },
              {
                "$ref": "#/components/parameters/log_q"
              },
              {
                "$ref": "#/components/parameters/log_tail"
              },
              {
                "$ref": "#/components/parameters/log_after"
              },
              {
                "name": "Last-Event-ID",
                "in": "header",
                "description": "What a reconnecting EventSource sends: resume after this sequence (digits; empty is ignored). Ignored when `after` is given; otherwise anything but digits is a 400.",
                "schema": {
                  "type": "string"
                }
              }
            ],
            "responses": {
              "200": {
                "description": "The stream.",
                "content": {
                  "text/event-stream": {
                    "schema": {
                      "type": "string"
                    }
                  }
                },
                "headers": {
                  "Cache-Control": {
                    "schema": {
                      "type": "string",
                      "const": "no-store"
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
              "500": {
                "$ref": "#/components/responses/ServerError"
              }
            }
          }
        },
        "/supervisor/events": {
          "get": {
            "operationId": "streamEvents",
            "tags": [
              "supervisor"
            ],
            "summary": "Every agent's state changes as Server-Sent Events",
            "description": "Typed events from the supervisor's own log lines (the lines of process `supervisor`, one source for both): `data:` is `{sequence, type, agent_id, process_id, timestamp, level, message, extra}` with `type` one of preparing, waiting, spawned, ready, judged_by_process, unhealthy, stopping, killed, stopped, exited, oom_killed, restarting, gave_up, failed, rolling_restart_started, rolling_restart_done, rolling_restart_failed, extra_run_exited, removed, state_not_saved; `extra` holds pid, port, run, exit_code or signal, reason, delay. The last `tail` events (or every one after `after` / `Last-Event-ID`), then live ones, never ending; `id:` is the sequence, so a reconnecting EventSource resumes with no event twice. The same path with `Upgrade: websocket` sends the same events as text messages (each with its `type`; `{\"type\": \"gap\", ...}` for a reader too slow), resumed with `after=` since a browser's WebSocket cannot send headers; parameters a 400 would refuse are not upgraded.",
            "parameters": [
              {
                "$ref": "#/components/parameters/log_tail"
              },
              {
                "$ref": "#/components/parameters/log_after"
              },
              {
                "name": "Last-Event-ID",
                "in": "header",
                "description": "What a reconnecting EventSource sends: resume after this sequence (digits; empty is ignored). Ignored when `after` is given; otherwise anything but digits is a 400.",
                "schema": {
                  "type": "string"
                }
              }
            ],
            "responses": {
              "200": {
                "description": "The stream.",
                "content": {
                  "text/event-stream": {
                    "schema": {
                      "type": "string"
                    }
                  }
                },
                "headers": {
                  "Cache-Control": {
                    "schema": {
                      "type": "string",
                      "const": "no-store"
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
              "500": {
                "$ref": "#/components/responses/ServerError"
              }
            }
          }
        },
        "/supervisor/logs/ws": {
          "get": {
            "operationId": "logsWebSocket",
            "tags": [
              "logs"
            ],
            "summary": "Live log lines over a WebSocket",
            "description": "Connect with a WebSocket client. Text messages `{\"type\": \"log\", ...LogEntry}` and `{\"type\": \"gap\", \"missed\", \"first_sequence\", \"last_sequence\", \"cursor\"}`; what the client sends is ignored. A request without the upgrade gets 426; an upgrade that is refused (bad parameters, no token) gets a 400 without a body.",
            "parameters": [
              {
                "$ref": "#/components/parameters/log_process_id"
              },
              {
                "$ref": "#/components/parameters/log_with_events"
              },
              {
                "$ref": "#/components/parameters/log_level"
              },
              {
                "$ref": "#/components/parameters/log_min_level"
              },
              {
                "$ref": "#/components/parameters/log_since"
              },
              {
                "$ref": "#/components/parameters/log_until"
              },
              {
                "$ref": "#/components/parameters/log_stream"
              },
              {
                "$ref": "#/components/parameters/log_q"
              },
              {
                "$ref": "#/components/parameters/log_tail"
              },
              {
                "$ref": "#/components/parameters/log_after"
              }
            ],
            "responses": {
              "101": {
                "description": "Switched to the WebSocket protocol."
              },
              "400": {
                "$ref": "#/components/responses/BadRequest"
              },
              "401": {
                "$ref": "#/components/responses/Unauthorized"
              },
              "426": {
                "description": "Not a WebSocket upgrade: connect with a WebSocket client, or use /supervisor/logs/stream.",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              }
            }
          }
        },
        "/metrics": {
          "get": {
            "operationId": "metrics",
            "tags": [
              "runtime"
            ],
            "summary": "Prometheus metrics",
            "description": "The Prometheus text format (`par_*`), built at scrape time.",
            "responses": {
              "200": {
                "description": "The metrics.",
                "content": {
                  "text/plain": {
                    "schema": {
                      "type": "string"
                    }
                  }
                }
              },
              "401": {
                "$ref": "#/components/responses/Unauthorized"
              }
            }
          }
        },
        "/agents/{agent_id}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/agent_id_path"
            }
          ],
          "get": {
            "operationId": "proxyGetRoot",
            "tags": [
              "agents"
            ],
            "summary": "GET to the agent's `/`",
            "description": "Relayed to the agent's loopback port (`/agents/{agent_id}/x` reaches the agent's `/x`, with `X-Forwarded-Prefix: /agents/{agent_id}`): bodies stream both ways, hop-by-hop headers are dropped, redirects are passed back as they are, WebSocket upgrades are relayed. Needs no token unless the daemon runs with --proxy-requires-token (the token is then not passed on). Any answer of the agent's own comes back unchanged; the statuses below are the proxy's.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            }
          },
          "post": {
            "operationId": "proxyPostRoot",
            "tags": [
              "agents"
            ],
            "summary": "POST to the agent's `/`",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            },
            "requestBody": {
              "$ref": "#/components/requestBodies/AgentRequest"
            }
          },
          "put": {
            "operationId": "proxyPutRoot",
            "tags": [
              "agents"
            ],
            "summary": "PUT to the agent's `/`",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            },
            "requestBody": {
              "$ref": "#/components/requestBodies/AgentRequest"
            }
          },
          "delete": {
            "operationId": "proxyDeleteRoot",
            "tags": [
              "agents"
            ],
            "summary": "DELETE to the agent's `/`",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            },
            "requestBody": {
              "$ref": "#/components/requestBodies/AgentRequest"
            }
          },
          "patch": {
            "operationId": "proxyPatchRoot",
            "tags": [
              "agents"
            ],
            "summary": "PATCH to the agent's `/`",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            },
            "requestBody": {
              "$ref": "#/components/requestBodies/AgentRequest"
            }
          },
          "head": {
            "operationId": "proxyHeadRoot",
            "tags": [
              "agents"
            ],
            "summary": "HEAD to the agent's `/`",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            }
          },
          "options": {
            "operationId": "proxyOptionsRoot",
            "tags": [
              "agents"
            ],
            "summary": "OPTIONS to the agent's `/`",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            }
          }
        },
        "/agents/{agent_id}/{path}": {
          "parameters": [
            {
              "$ref": "#/components/parameters/agent_id_path"
            },
            {
              "name": "path",
              "in": "path",
              "required": true,
              "description": "The path on the agent. It may span several segments (`a/b/c`): the server's route is `/agents/:agent_id/**`.",
              "schema": {
                "type": "string"
              }
            }
          ],
          "get": {
            "operationId": "proxyGetPath",
            "tags": [
              "agents"
            ],
            "summary": "GET to the agent",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            }
          },
          "post": {
            "operationId": "proxyPostPath",
            "tags": [
              "agents"
            ],
            "summary": "POST to the agent",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            },
            "requestBody": {
              "$ref": "#/components/requestBodies/AgentRequest"
            }
          },
          "put": {
            "operationId": "proxyPutPath",
            "tags": [
              "agents"
            ],
            "summary": "PUT to the agent",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            },
            "requestBody": {
              "$ref": "#/components/requestBodies/AgentRequest"
            }
          },
          "delete": {
            "operationId": "proxyDeletePath",
            "tags": [
              "agents"
            ],
            "summary": "DELETE to the agent",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            },
            "requestBody": {
              "$ref": "#/components/requestBodies/AgentRequest"
            }
          },
          "patch": {
            "operationId": "proxyPatchPath",
            "tags": [
              "agents"
            ],
            "summary": "PATCH to the agent",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            },
            "requestBody": {
              "$ref": "#/components/requestBodies/AgentRequest"
            }
          },
          "head": {
            "operationId": "proxyHeadPath",
            "tags": [
              "agents"
            ],
            "summary": "HEAD to the agent",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            }
          },
          "options": {
            "operationId": "proxyOptionsPath",
            "tags": [
              "agents"
            ],
            "summary": "OPTIONS to the agent",
            "description": "As `GET /agents/{agent_id}`.",
            "security": [],
            "responses": {
              "307": {
                "$ref": "#/components/responses/UseANewConnection"
              },
              "400": {
                "$ref": "#/components/responses/ProxyBadRequest"
              },
              "401": {
                "$ref": "#/components/responses/ProxyUnauthorized"
              },
              "404": {
                "$ref": "#/components/responses/UnknownAgent"
              },
              "502": {
                "$ref": "#/components/responses/AgentUnreachable"
              },
              "503": {
                "$ref": "#/components/responses/AgentNotRunning"
              },
              "504": {
                "$ref": "#/components/responses/AgentTimedOut"
              },
              "default": {
                "$ref": "#/components/responses/AgentAnswer"
              }
            }
          }
        }
      },
      "components": {
        "securitySchemes": {
          "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "The management token from <data-dir>/token (or PAR_TOKEN)."
          },
          "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": "par_session",
            "description": "A dashboard session from POST /ui/session, honoured only on the dashboard's own port (`--ui-port`; the API port, which agents' pages share, ignores the cookie). Requests that change state also need its X-CSRF-Token header, and any request with an `Origin` other than the dashboard's is refused (403)."
          }
        },
        "parameters": {
          "process_id_path": {
            "name": "process_id",
            "in": "path",
            "required": true,
            "description": "`par-{agent_id}`, or the bare agent id.",
            "schema": {
              "type": "string"
            }
          },
          "agent_id_path": {
            "name": "agent_id",
            "in": "path",
            "required": true,
            "description": "The agent to reach.",
            "schema": {
              "type": "string"
            }
          },
          "log_process_id": {
            "name": "process_id",
            "in": "query",
            "description": "Only this process's lines.",
            "schema": {
              "type": "string",
              "minLength": 1,
              "maxLength": 256
            }
          },
          "log_with_events": {
            "name": "with_events",
            "in": "query",
            "description": "With `process_id` naming an agent (`par-NAME`): also the supervisor's events about that agent (lines of process `supervisor` whose `extra.agent_id` is NAME), in one sequence order with its own lines. What `par logs NAME` shows. Without such a `process_id` it is a 400.",
            "schema": {
              "type": "boolean",
              "default": false
            }
          },
          "log_level": {
            "name": "level",
            "in": "query",
            "description": "Only this level: DEBUG, INFO, WARNING, ERROR, CRITICAL, any case, or an alias (warn, err, fatal, ...).",
            "schema": {
              "type": "string",
              "pattern": "^(?:[Dd][Ee][Bb][Uu][Gg]|[Tt][Rr][Aa][Cc][Ee]|[Dd][Bb][Gg]|[Vv][Ee][Rr][Bb][Oo][Ss][Ee]|[Ii][Nn][Ff][Oo]|[Ii][Nn][Ff][Oo][Rr][Mm][Aa][Tt][Ii][Oo][Nn]|[Nn][Oo][Tt][Ii][Cc][Ee]|[Ii][Nn][Ff]|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]|[Ww][Aa][Rr][Nn]|[Ww][Rr][Nn]|[Ee][Rr][Rr][Oo][Rr]|[Ee][Rr][Rr]|[Ee][Rr][Oo][Rr]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll]|[Cc][Rr][Ii][Tt]|[Ff][Aa][Tt][Aa][Ll]|[Pp][Aa][Nn][Ii][Cc]|[Ee][Mm][Ee][Rr][Gg]|[Ee][Mm][Ee][Rr][Gg][Ee][Nn][Cc][Yy]|[Aa][Ll][Ee][Rr][Tt])$"
            }
          },
          "log_min_level": {
            "name": "min_level",
            "in": "query",
            "description": "This level and above (same spellings as `level`).",
            "schema": {
              "type": "string",
              "pattern": "^(?:[Dd][Ee][Bb][Uu][Gg]|[Tt][Rr][Aa][Cc][Ee]|[Dd][Bb][Gg]|[Vv][Ee][Rr][Bb][Oo][Ss][Ee]|[Ii][Nn][Ff][Oo]|[Ii][Nn][Ff][Oo][Rr][Mm][Aa][Tt][Ii][Oo][Nn]|[Nn][Oo][Tt][Ii][Cc][Ee]|[Ii][Nn][Ff]|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]|[Ww][Aa][Rr][Nn]|[Ww][Rr][Nn]|[Ee][Rr][Rr][Oo][Rr]|[Ee][Rr][Rr]|[Ee][Rr][Oo][Rr]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll]|[Cc][Rr][Ii][Tt]|[Ff][Aa][Tt][Aa][Ll]|[Pp][Aa][Nn][Ii][Cc]|[Ee][Mm][Ee][Rr][Gg]|[Ee][Mm][Ee][Rr][Gg][Ee][Nn][Cc][Yy]|[Aa][Ll][Ee][Rr][Tt])$"
            }
          },
          "log_since": {
            "name": "since",
            "in": "query",
            "description": "ISO 8601 (`2026-11-27T10:00:00Z`; no zone means UTC) or epoch seconds (or milliseconds).",
            "schema": {
              "type": "string",
              "pattern": "^(?:(?=[0-9.]{1,24}$)(?=[0-9.]*[1-9])(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)|[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:[.,][0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)$"
            }
          },
          "log_until": {
            "name": "until",
            "in": "query",
            "description": "As `since`; not before it.",
            "schema": {
              "type": "string",
              "pattern": "^(?:(?=[0-9.]{1,24}$)(?=[0-9.]*[1-9])(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)|[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:[.,][0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)$"
            }
          },
          "log_stream": {
            "name": "stream",
            "in": "query",
            "description": "stdout, stderr, supervisor (the supervisor's events) or install (dependency installs); any case.",
            "schema": {
              "type": "string",
              "pattern": "^(?:[Ss][Tt][Dd][Oo][Uu][Tt]|[Ss][Tt][Dd][Ee][Rr][Rr]|[Ss][Uu][Pp][Ee][Rr][Vv][Ii][Ss][Oo][Rr]|[Ii][Nn][Ss][Tt][Aa][Ll][Ll])$"
            }
          },
          "log_q": {
            "name": "q",
            "in": "query",
            "description": "Words to search for (at most 1000 bytes, at least one letter or digit).",
            "schema": {
              "type": "string",
              "minLength": 1,
              "maxLength": 1000
            }
          },
          "log_order": {
            "name": "order",
            "in": "query",
            "description": "desc (default, newest first) or asc; any case.",
            "schema": {
              "type": "string",
              "pattern": "^(?:[Aa][Ss][Cc]|[Dd][Ee][Ss][Cc])$"
            }
          },
          "log_limit": {
            "name": "limit",
            "in": "query",
            "description": "Lines per page (default 100).",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 10000
            }
          },
          "log_cursor": {
            "name": "cursor",
            "in": "query",
            "description": "A `next_cursor` of an earlier answer.",
            "schema": {
              "type": "integer",
              "minimum": 0,
              "maximum": 18446744073709551615
            }
          },
          "log_tail": {
            "name": "tail",
            "in": "query",
            "description": "Send the last `tail` matching stored lines first (default 0). Not with `after`.",
            "schema": {
              "type": "integer",
              "minimum": 0,
              "maximum": 10000
            }
          },
          "log_after": {
            "name": "after",
            "in": "query",
            "description": "Resume after this sequence: every matching line stored since is sent first.",
            "schema": {
              "type": "integer",
              "minimum": 0,
              "maximum": 18446744073709551615
            }
          }
        },
        "responses": {
          "BadRequest": {
            "description": "Invalid request: bad JSON, a bad or unknown field or parameter (`field` names it).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "BadSpec": {
            "description": "Invalid request: bad JSON, a bad or unknown field or parameter (`field` names it), a dependency on an unknown agent or a cycle, or a package that cannot be read, is no valid archive or has an invalid manifest (`field: package_path`).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "Unauthorized": {
            "description": "No or wrong management token: send `Authorization: Bearer <token>` (the token is in <data-dir>/token, or PAR_TOKEN).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "headers": {
              "WWW-Authenticate": {
                "required": true,
                "schema": {
                  "type": "string",
                  "const": "Bearer realm=\"par\""
                }
              }
            }
          },
          "Forbidden": {
            "description": "`package_path` is outside the allowed package directories (--package-dir).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "NotFound": {
            "description": "No such process.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "DashboardElsewhere": {
            "description": "On the API port: the dashboard is on its own port (the detail names its address), or off.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "ContentTooLarge": {
            "description": "The request body is over the limit (1 MiB).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "UnsupportedMediaType": {
            "description": "A request body that is not `Content-Type: application/json`.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "ServerError": {
            "description": "The supervisor itself failed (nothing was started or changed), or the disk is full (507).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "ProxyBadRequest": {
            "description": "The path has an empty segment (`//`) or its `..` segments climb out of /agents/{agent_id}. (A WebSocket upgrade to an agent that is not running gets a 400 without a body.)",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "ProxyUnauthorized": {
            "description": "Only with --proxy-requires-token: no or wrong management token.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "headers": {
              "WWW-Authenticate": {
                "required": true,
                "schema": {
                  "type": "string",
                  "const": "Bearer realm=\"par\""
                }
              }
            }
          },
          "UnknownAgent": {
            "description": "No such agent.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "AgentUnreachable": {
            "description": "The agent cannot be reached, closed the connection, or sent an answer the proxy cannot read.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "AgentNotRunning": {
            "description": "The agent is not running.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "headers": {
              "Retry-After": {
                "description": "Seconds, while a restart is pending or the agent starts.",
                "schema": {
                  "type": "string",
                  "pattern": "^[0-9]+$"
                }
              }
            }
          },
          "UseANewConnection": {
            "description": "This connection began with a status, health or metrics read and is kept for those (the control plane's own thread); an agent's request is sent again on a connection of its own, to the same `Location`. The connection is closed after this answer.",
            "headers": {
              "Location": {
                "description": "The same target.",
                "schema": {
                  "type": "string"
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "AgentTimedOut": {
            "description": "The agent did not answer within --proxy-timeout.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            }
          },
          "AgentAnswer": {
            "description": "The agent's own answer.",
            "content": {
              "*/*": {
                "schema": {}
              }
            }
          }
        },
        "requestBodies": {
          "AgentRequest": {
            "required": false,
            "description": "Relayed as it is.",
            "content": {
              "*/*": {
                "schema": {}
              }
            }
          }
        },
        "schemas": {
          "Error": {
            "type": "object",
            "description": "Every error the daemon answers (APIError): what is wrong and how to fix it.",
            "required": [
              "error",
              "detail"
            ],
            "properties": {
              "error": {
                "type": "string",
                "description": "A short name of the problem, e.g. `invalid request`, `unknown process`."
              },
              "detail": {
                "type": "string",
                "description": "What is wrong and how to fix it."
              },
              "field": {
                "type": "string",
                "description": "The request field, parameter or quota the error is about, when there is one."
              },
              "errors": {
                "type": "array",
                "items": {
                  "type": "string"
                },
                "description": "Every problem when there are several (an invalid config file: one `file:line: key: message` each)."
              }
            }
          },
          "ProcessState": {
            "type": "string",
            "enum": [
              "preparing",
              "waiting",
              "starting",
              "running",
              "stopping",
              "stopped",
              "failed",
              "crashed",
              "restarting"
            ],
            "description": "`waiting`: its depends_on are not met yet; `preparing`: its dependencies are being installed; `restarting`: exited cleanly and waits out its restart delay under `always`; `crashed` with a `next_restart_at`: waits out a backoff after a failure."
          },
          "HealthStatus": {
            "type": "object",
            "description": "The agent's health check and its last probe.",
            "required": [
              "status",
              "type",
              "declared",
              "interval_seconds",
              "timeout_seconds",
              "failure_threshold",
              "start_timeout_seconds",
              "last_probe_at",
              "latency_ms",
              "consecutive_failures",
              "error"
            ],
            "properties": {
              "status": {
                "type": "string",
                "enum": [
                  "starting",
                  "healthy",
                  "unhealthy",
                  "down"
                ],
                "description": "`down`: no process."
              },
              "type": {
                "type": "string",
                "enum": [
                  "http",
                  "tcp",
                  "none"
                ]
              },
              "declared": {
                "type": "boolean",
                "description": "Whether the spawn request or the package declared the check (`type` or `path`); false for the built-in one (HTTP GET /health, any 4xx counts as alive)."
              },
              "judged_by": {
                "type": "string",
                "enum": [
                  "process"
                ],
                "description": "Only when the built-in check found nothing listening by the start timeout: the agent runs on as a worker, judged by its process, and is no longer probed."
              },
              "path": {
                "type": "string",
                "description": "Only for `type: http`."
              },
              "interval_seconds": {
                "type": "number"
              },
              "timeout_seconds": {
                "type": "number"
              },
              "failure_threshold": {
                "type": "integer"
              },
              "start_timeout_seconds": {
                "type": "number"
              },
              "last_probe_at": {
                "type": [
                  "string",
                  "null"
                ],
                "format": "date-time"
              },
              "latency_ms": {
                "type": [
                  "number",
                  "null"
                ]
              },
              "consecutive_failures": {
                "type": "integer",
                "minimum": 0
              },
              "error": {
                "type": [
                  "string",
                  "null"
                ]
              }
            }
          },
          "CgroupUsage": {
            "type": "object",
            "description": "What the agent's cgroup reports (null where the controller is not there).",
            "required": [
              "memory_bytes",
              "memory_peak_bytes",
              "memory_limit_bytes",
              "cpu_usage_seconds",
              "cpu_limit_cores",
              "throttled_seconds",
              "throttled_periods",
              "pids_current",
              "pids_limit",
              "oom_kills"
            ],
            "properties": {
              "memory_bytes": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0
              },
              "memory_peak_bytes": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0
              },
              "memory_limit_bytes": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0
              },
              "cpu_usage_seconds": {
                "type": [
                  "number",
                  "null"
                ]
              },
              "cpu_limit_cores": {
                "type": [
                  "number",
                  "null"
                ]
              },
              "throttled_seconds": {
                "type": [
                  "number",
                  "null"
                ]
              },
              "throttled_periods": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0
              },
              "pids_current": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0
              },
              "pids_limit": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0
              },
              "oom_kills": {
                "type": "integer",
                "minimum": 0
              }
            }
          },
          "ResourceUsage": {
            "type": "object",
            "description": "The last resource sample of the agent's process tree.",
            "required": [
              "memory",
              "cpu",
              "io",
              "num_threads",
              "num_fds",
              "num_processes",
              "sampled_at",
              "cgroup"
            ],
            "properties": {
              "memory": {
                "type": "object",
                "required": [
                  "rss_bytes",
                  "vms_bytes",
                  "percent"
                ],
                "properties": {
                  "rss_bytes": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "vms_bytes": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "percent": {
                    "type": "number"
                  }
                }
              },
              "cpu": {
                "type": "object",
                "required": [
                  "percent",
                  "user_time",
                  "system_time"
                ],
                "properties": {
                  "percent": {
                    "type": "number"
                  },
                  "user_time": {
                    "type": "number"
                  },
                  "system_time": {
                    "type": "number"
                  }
                }
              },
              "io": {
                "type": [
                  "object",
                  "null"
                ],
                "description": "Null where the kernel does not let the supervisor read /proc/PID/io.",
                "required": [
                  "read_bytes",
                  "write_bytes",
                  "read_count",
                  "write_count"
                ],
                "properties": {
                  "read_bytes": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "write_bytes": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "read_count": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "write_count": {
                    "type": "integer",
                    "minimum": 0
                  }
                }
              },
              "num_threads": {
                "type": "integer",
                "minimum": 0
              },
              "num_fds": {
                "type": "integer",
                "minimum": 0
              },
              "num_processes": {
                "type": "integer",
                "minimum": 0
              },
              "sampled_at": {
                "type": "string",
                "format": "date-time"
              },
              "cgroup": {
                "oneOf": [
                  {
                    "type": "null"
                  },
                  {
                    "$ref": "#/components/schemas/CgroupUsage"
                  }
                ]
              }
            }
          },
          "Process": {
            "type": "object",
            "description": "One agent's process as the supervisor sees it. Absent values are null, so every key is present.",
            "required": [
              "process_id",
              "agent_id",
              "package_id",
              "package_path",
              "port",
              "a2a_port",
              "environment",
              "state",
              "pid",
              "started_at",
              "uptime",
              "run",
              "restart_count",
              "consecutive_restarts",
              "restart_policy",
              "max_restarts",
              "last_exit",
              "next_restart_at",
              "next_restart_reason",
              "depends_on",
              "waiting_for",
              "error",
              "resources",
              "limits",
              "limits_enforced",
              "limits_reason",
              "cgroup",
              "ready_at",
              "health"
            ],
            "properties": {
              "process_id": {
                "type": "string",
                "description": "`par-{agent_id}`."
              },
              "agent_id": {
                "type": "string"
              },
              "package_id": {
                "type": "string",
                "description": "The spawn's package_id, else the package's `name@version`."
              },
              "package_path": {
                "type": "string"
              },
              "port": {
                "type": [
                  "integer",
                  "null"
                ],
                "description": "The agent's port (PORT, PAR_PORT)."
              },
              "a2a_port": {
                "type": [
                  "integer",
                  "null"
                ],
                "description": "The second port of an `a2a:` surface."
              },
              "environment": {
                "type": [
                  "string",
                  "null"
                ],
                "description": "The virtual environment of its dependencies, if it has any."
              },
              "state": {
                "$ref": "#/components/schemas/ProcessState"
              },
              "pid": {
                "type": [
                  "integer",
                  "null"
                ]
              },
              "started_at": {
                "type": [
                  "string",
                  "null"
                ],
                "format": "date-time"
              },
              "uptime": {
                "type": [
                  "number",
                  "null"
                ],
                "description": "Seconds the current run has been up."
              },
              "run": {
                "type": "integer",
                "minimum": 0,
                "description": "How many times it has been started."
              },
              "restart_count": {
                "type": "integer",
                "minimum": 0
              },
              "consecutive_restarts": {
                "type": "integer",
                "minimum": 0
              },
              "restart_policy": {
                "type": "string",
                "enum": [
                  "always",
                  "on-failure",
                  "never"
                ]
              },
              "max_restarts": {
                "type": "integer",
                "minimum": 0
              },
              "last_exit": {
                "type": [
                  "object",
                  "null"
                ],
                "required": [
                  "code",
                  "signal",
                  "signal_name",
                  "at",
                  "reason",
                  "run"
                ],
                "properties": {
                  "code": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  },
                  "signal": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  },
                  "signal_name": {
                    "type": [
                      "string",
                      "null"
                    ]
                  },
                  "at": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "reason": {
                    "type": "string",
                    "description": "e.g. `exited`, `signaled`, `stopped`, `spawn_failed`, `oom_killed`, `unhealthy`, `start_timeout`, `dependencies`."
                  },
                  "run": {
                    "type": "integer"
                  }
                }
              },
              "next_restart_at": {
                "type": [
                  "string",
                  "null"
                ],
                "format": "date-time"
              },
              "next_restart_reason": {
                "type": [
                  "string",
                  "null"
                ],
                "enum": [
                  "backoff",
                  "rate_limited",
                  null
                ]
              },
              "depends_on": {
                "type": "array",
                "items": {
                  "type": "object",
                  "required": [
                    "agent",
                    "condition",
                    "restart"
                  ],
                  "properties": {
                    "agent": {
                      "type": "string"
                    },
                    "condition": {
                      "type": "string",
                      "enum": [
                        "started",
                        "healthy"
                      ]
                    },
                    "restart": {
                      "type": "boolean"
                    }
                  }
                }
              },
              "waiting_for": {
                "type": "array",
                "items": {
                  "type": "object",
                  "required": [
                    "agent",
                    "condition",
                    "state"
                  ],
                  "properties": {
                    "agent": {
                      "type": "string"
                    },
                    "condition": {
                      "type": "string",
                      "enum": [
                        "started",
                        "healthy"
                      ]
                    },
                    "state": {
                      "type": "string",
                      "description": "The state that agent is in, `unknown` when there is no such agent."
                    }
                  }
                }
              },
              "error": {
                "type": [
                  "string",
                  "null"
                ]
              },
              "resources": {
                "oneOf": [
                  {
                    "type": "null"
                  },
                  {
                    "$ref": "#/components/schemas/ResourceUsage"
                  }
                ]
              },
              "limits": {
                "type": "object",
                "required": [
                  "memory_limit_mb",
                  "memory_swap_mb",
                  "cpu_limit",
                  "pids_limit",
                  "nice"
                ],
                "properties": {
                  "memory_limit_mb": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  },
                  "memory_swap_mb": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  },
                  "cpu_limit": {
                    "type": [
                      "number",
                      "null"
                    ]
                  },
                  "pids_limit": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  },
                  "nice": {
                    "type": "integer",
                    "minimum": -20,
                    "maximum": 19
                  }
                }
              },
              "limits_enforced": {
                "type": "boolean"
              },
              "limits_reason": {
                "type": [
                  "string",
                  "null"
                ],
                "description": "Why the limits are not enforced, when they are not."
              },
              "cgroup": {
                "type": [
                  "string",
                  "null"
                ],
                "description": "The agent's cgroup folder."
              },
              "ready_at": {
                "type": [
                  "string",
                  "null"
                ],
                "format": "date-time"
              },
              "health": {
                "$ref": "#/components/schemas/HealthStatus"
              }
            }
          },
          "ProcessAnswer": {
            "type": "object",
            "description": "The answer of spawn, stop and restart. Spawn and restart also give `port` and `pid`.",
            "required": [
              "status",
              "process_id",
              "state",
              "process"
            ],
            "properties": {
              "status": {
                "type": "string",
                "const": "success"
              },
              "process_id": {
                "type": "string"
              },
              "port": {
                "type": [
                  "integer",
                  "null"
                ]
              },
              "pid": {
                "type": [
                  "integer",
                  "null"
                ]
              },
              "state": {
                "$ref": "#/components/schemas/ProcessState"
              },
              "process": {
                "$ref": "#/components/schemas/Process"
              }
            }
          },
          "RemovalAnswer": {
            "type": "object",
            "description": "The answer of a removal: the agent's last status, as it left the table.",
            "required": [
              "status",
              "process_id",
              "removed",
              "process"
            ],
            "properties": {
              "status": {
                "type": "string",
                "const": "success"
              },
              "process_id": {
                "type": "string"
              },
              "removed": {
                "type": "boolean",
                "const": true
              },
              "process": {
                "$ref": "#/components/schemas/Process"
              }
            }
          },
          "LaunchAnswer": {
            "allOf": [
              {
                "$ref": "#/components/schemas/ProcessAnswer"
              },
              {
                "type": "object",
                "required": [
                  "port",
                  "pid"
                ]
              }
            ],
            "description": "Spawn's and restart's answer: the process, its port and pid."
          },
          "SpawnRequest": {
            "type": "object",
            "description": "An agent's spec. null counts as left out; unknown fields are refused.",
            "required": [
              "agent_id",
              "package_path"
            ],
            "additionalProperties": false,
            "properties": {
              "agent_id": {
                "type": "string",
                "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$",
                "description": "The agent's name; its process id is `par-{agent_id}`."
              },
              "package_path": {
                "type": "string",
                "minLength": 1,
                "pattern": "^/",
                "description": "Absolute path of the .apkg file, inside a --package-dir."
              },
              "package_id": {
                "type": [
                  "string",
                  "null"
                ],
                "maxLength": 200,
                "pattern": "^[^\\u0000\\n\\u000b\\f\\r\\u0085\\u2028\\u2029]*$",
                "description": "At most 200 bytes, no line break or NUL; default the package's `name@version`."
              },
              "env_vars": {
                "type": [
                  "object",
                  "null"
                ],
                "description": "Environment variables; numbers are turned into strings. The supervisor's own (PAR_PORT, PORT, PAR_AGENT_ID, PAR_PACKAGE_ID, PAR_PACKAGE_PATH, PAR_MODE, PAR_SUPERVISOR_URL) cannot be set.",
                "propertyNames": {
                  "minLength": 1,
                  "pattern": "^[^=\\u0000]+$",
                  "not": {
                    "enum": [
                      "PAR_PORT",
                      "PORT",
                      "PAR_AGENT_ID",
                      "PAR_PACKAGE_ID",
                      "PAR_PACKAGE_PATH",
                      "PAR_MODE",
                      "PAR_SUPERVISOR_URL"
                    ]
                  }
                },
                "additionalProperties": {
                  "type": [
                    "string",
                    "number"
                  ],
                  "pattern": "^[^\\u0000]*$"
                }
              },
              "restart_policy": {
                "type": [
                  "string",
                  "null"
                ],
                "enum": [
                  "always",
                  "on-failure",
                  "never",
                  null
                ]
              },
              "max_restarts": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0,
                "maximum": 1000000
              },
              "restart_delay_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 86400
              },
              "backoff_multiplier": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 1,
                "maximum": 100
              },
              "max_restart_delay_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 86400,
                "description": "At least restart_delay_seconds."
              },
              "stable_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 86400
              },
              "backoff_jitter": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 1
              },
              "start_limit_burst": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0,
                "maximum": 1000000,
                "description": "0 turns the limit off."
              },
              "start_limit_interval_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0.001,
                "maximum": 86400
              },
              "success_exit_codes": {
                "type": [
                  "array",
                  "null"
                ],
                "maxItems": 256,
                "items": {
                  "anyOf": [
                    {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 255,
                      "description": "An exit code."
                    },
                    {
                      "type": "string",
                      "pattern": "^[A-Za-z0-9+]+$",
                      "description": "A signal: its name with or without SIG (`SIGTERM`, `term`) or number (`SIG15`, `15`)."
                    }
                  ]
                },
                "description": "Exits that count as success (exit code 0 always does). Replaces the package's list."
              },
              "no_restart_exit_codes": {
                "type": [
                  "array",
                  "null"
                ],
                "maxItems": 256,
                "items": {
                  "anyOf": [
                    {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 255,
                      "description": "An exit code."
                    },
                    {
                      "type": "string",
                      "pattern": "^[A-Za-z0-9+]+$",
                      "description": "A signal: its name with or without SIG (`SIGTERM`, `term`) or number (`SIG15`, `15`)."
                    }
                  ]
                },
                "description": "Exits after which the agent is never restarted. Replaces the package's list."
              },
              "stop_timeout_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 3600
              },
              "memory_limit_mb": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 4,
                "maximum": 1048576
              },
              "memory_swap_mb": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0,
                "maximum": 1048576,
                "description": "Needs memory_limit_mb."
              },
              "cpu_limit": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0.01,
                "maximum": 4096,
                "description": "Cores."
              },
              "pids_limit": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 1,
                "maximum": 4194304
              },
              "nice": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": -20,
                "maximum": 19
              },
              "enforce_limits": {
                "type": [
                  "boolean",
                  "null"
                ],
                "description": "false: run even where the limits cannot be enforced."
              },
              "health_check": {
                "type": [
                  "object",
                  "null"
                ],
                "additionalProperties": false,
                "description": "Replaces the package's `health:` (default: HTTP GET /health). `path` applies to `type: http` only.",
                "properties": {
                  "type": {
                    "type": [
                      "string",
                      "null"
                    ],
                    "enum": [
                      "http",
                      "tcp",
                      "none",
                      null
                    ]
                  },
                  "path": {
                    "type": [
                      "string",
                      "null"
                    ],
                    "description": "For `type: http` (or no type): starts with `/`, no spaces or line breaks."
                  },
                  "interval_seconds": {
                    "type": [
                      "number",
                      "null"
                    ],
                    "minimum": 0.05,
                    "maximum": 3600
                  },
                  "timeout_seconds": {
                    "type": [
                      "number",
                      "null"
                    ],
                    "minimum": 0.01,
                    "maximum": 600
                  },
                  "failure_threshold": {
                    "type": [
                      "integer",
                      "null"
                    ],
                    "minimum": 1,
                    "maximum": 1000
                  },
                  "start_timeout_seconds": {
                    "type": [
                      "number",
                      "null"
                    ],
                    "minimum": 0.1,
                    "maximum": 86400
                  }
                },
                "if": {
                  "type": "object",
                  "required": [
                    "type"
                  ],
                  "properties": {
                    "type": {
                      "enum": [
                        "tcp",
                        "none"
                      ]
                    }
                  }
                },
                "then": {},
                "else": {
                  "properties": {
                    "path": {
                      "type": [
                        "string",
                        "null"
                      ],
                      "pattern": "^/[^ \\n\\r]*$"
                    }
                  }
                }
              },
              "log_retention": {
                "type": [
                  "object",
                  "null"
                ],
                "additionalProperties": false,
                "properties": {
                  "max_entries": {
                    "type": [
                      "integer",
                      "null"
                    ],
                    "minimum": 1,
                    "maximum": 1000000000
                  },
                  "max_age_seconds": {
                    "type": [
                      "number",
                      "null"
                    ],
                    "minimum": 1,
                    "maximum": 315360000
                  },
                  "max_bytes": {
                    "type": [
                      "integer",
                      "null"
                    ],
                    "minimum": 1024,
                    "maximum": 1099511627776
                  }
                }
              },
              "depends_on": {
                "type": [
                  "array",
                  "null"
                ],
                "maxItems": 256,
                "uniqueItems": true,
                "items": {
                  "anyOf": [
                    {
                      "type": "string",
                      "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$",
                      "description": "An agent id (condition `started`)."
                    },
                    {
                      "type": "object",
                      "additionalProperties": false,
                      "required": [
                        "agent"
                      ],
                      "properties": {
                        "agent": {
                          "type": "string",
                          "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"
                        },
                        "condition": {
                          "type": [
                            "string",
                            "null"
                          ],
                          "enum": [
                            "started",
                            "healthy",
                            null
                          ]
                        },
                        "restart": {
                          "type": [
                            "boolean",
                            "null"
                          ],
                          "description": "Restart this agent when the dependency restarts."
                        }
                      }
                    }
                  ]
                },
                "description": "Agents (known to this supervisor, not itself, no cycle, each once) to start before this one."
              }
            },
            "dependentRequired": {
              "memory_swap_mb": [
                "memory_limit_mb"
              ]
            },
            "examples": [
              {
                "agent_id": "research-assistant",
                "package_path": "/var/lib/par/packages/research-assistant.apkg",
                "memory_limit_mb": 1024
              }
            ]
          },
          "RestartRequest": {
            "type": "object",
            "description": "The spec fields to change (the rest stay as they are); `null` puts a field back to what a spawn without it gets (`{\"memory_limit_mb\": null}` lifts the limit; `agent_id` and `package_path` stay); `{}` or no body restarts with the same spec.",
            "additionalProperties": false,
            "properties": {
              "agent_id": {
                "type": "string",
                "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$",
                "description": "Must name the agent of the path when given."
              },
              "package_path": {
                "type": [
                  "string",
                  "null"
                ],
                "minLength": 1,
                "pattern": "^/",
                "description": "Absolute path of the .apkg file, inside a --package-dir."
              },
              "package_id": {
                "type": [
                  "string",
                  "null"
                ],
                "maxLength": 200,
                "pattern": "^[^\\u0000\\n\\u000b\\f\\r\\u0085\\u2028\\u2029]*$",
                "description": "At most 200 bytes, no line break or NUL; default the package's `name@version`."
              },
              "env_vars": {
                "type": [
                  "object",
                  "null"
                ],
                "description": "Environment variables; numbers are turned into strings. The supervisor's own (PAR_PORT, PORT, PAR_AGENT_ID, PAR_PACKAGE_ID, PAR_PACKAGE_PATH, PAR_MODE, PAR_SUPERVISOR_URL) cannot be set.",
                "propertyNames": {
                  "minLength": 1,
                  "pattern": "^[^=\\u0000]+$",
                  "not": {
                    "enum": [
                      "PAR_PORT",
                      "PORT",
                      "PAR_AGENT_ID",
                      "PAR_PACKAGE_ID",
                      "PAR_PACKAGE_PATH",
                      "PAR_MODE",
                      "PAR_SUPERVISOR_URL"
                    ]
                  }
                },
                "additionalProperties": {
                  "type": [
                    "string",
                    "number"
                  ],
                  "pattern": "^[^\\u0000]*$"
                }
              },
              "restart_policy": {
                "type": [
                  "string",
                  "null"
                ],
                "enum": [
                  "always",
                  "on-failure",
                  "never",
                  null
                ]
              },
              "max_restarts": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0,
                "maximum": 1000000
              },
              "restart_delay_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 86400
              },
              "backoff_multiplier": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 1,
                "maximum": 100
              },
              "max_restart_delay_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 86400,
                "description": "At least restart_delay_seconds."
              },
              "stable_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 86400
              },
              "backoff_jitter": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 1
              },
              "start_limit_burst": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0,
                "maximum": 1000000,
                "description": "0 turns the limit off."
              },
              "start_limit_interval_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0.001,
                "maximum": 86400
              },
              "success_exit_codes": {
                "type": [
                  "array",
                  "null"
                ],
                "maxItems": 256,
                "items": {
                  "anyOf": [
                    {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 255,
                      "description": "An exit code."
                    },
                    {
                      "type": "string",
                      "pattern": "^[A-Za-z0-9+]+$",
                      "description": "A signal: its name with or without SIG (`SIGTERM`, `term`) or number (`SIG15`, `15`)."
                    }
                  ]
                },
                "description": "Exits that count as success (exit code 0 always does). Replaces the package's list."
              },
              "no_restart_exit_codes": {
                "type": [
                  "array",
                  "null"
                ],
                "maxItems": 256,
                "items": {
                  "anyOf": [
                    {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 255,
                      "description": "An exit code."
                    },
                    {
                      "type": "string",
                      "pattern": "^[A-Za-z0-9+]+$",
                      "description": "A signal: its name with or without SIG (`SIGTERM`, `term`) or number (`SIG15`, `15`)."
                    }
                  ]
                },
                "description": "Exits after which the agent is never restarted. Replaces the package's list."
              },
              "stop_timeout_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 3600
              },
              "memory_limit_mb": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 4,
                "maximum": 1048576
              },
              "memory_swap_mb": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0,
                "maximum": 1048576,
                "description": "Needs memory_limit_mb."
              },
              "cpu_limit": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0.01,
                "maximum": 4096,
                "description": "Cores."
              },
              "pids_limit": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 1,
                "maximum": 4194304
              },
              "nice": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": -20,
                "maximum": 19
              },
              "enforce_limits": {
                "type": [
                  "boolean",
                  "null"
                ],
                "description": "false: run even where the limits cannot be enforced."
              },
              "health_check": {
                "type": [
                  "object",
                  "null"
                ],
                "additionalProperties": false,
                "description": "Replaces the package's `health:` (default: HTTP GET /health). `path` applies to `type: http` only.",
                "properties": {
                  "type": {
                    "type": [
                      "string",
                      "null"
                    ],
                    "enum": [
                      "http",
                      "tcp",
                      "none",
                      null
                    ]
                  },
                  "path": {
                    "type": [
                      "string",
                      "null"
                    ],
                    "description": "For `type: http` (or no type): starts with `/`, no spaces or line breaks."
                  },
                  "interval_seconds": {
                    "type": [
                      "number",
                      "null"
                    ],
                    "minimum": 0.05,
                    "maximum": 3600
                  },
                  "timeout_seconds": {
                    "type": [
                      "number",
                      "null"
                    ],
                    "minimum": 0.01,
                    "maximum": 600
                  },
                  "failure_threshold": {
                    "type": [
                      "integer",
                      "null"
                    ],
                    "minimum": 1,
                    "maximum": 1000
                  },
                  "start_timeout_seconds": {
                    "type": [
                      "number",
                      "null"
                    ],
                    "minimum": 0.1,
                    "maximum": 86400
                  }
                },
                "if": {
                  "type": "object",
                  "required": [
                    "type"
                  ],
                  "properties": {
                    "type": {
                      "enum": [
                        "tcp",
                        "none"
                      ]
                    }
                  }
                },
                "then": {},
                "else": {
                  "properties": {
                    "path": {
                      "type": [
                        "string",
                        "null"
                      ],
                      "pattern": "^/[^ \\n\\r]*$"
                    }
                  }
                }
              },
              "log_retention": {
                "type": [
                  "object",
                  "null"
                ],
                "additionalProperties": false,
                "properties": {
                  "max_entries": {
                    "type": [
                      "integer",
                      "null"
                    ],
                    "minimum": 1,
                    "maximum": 1000000000
                  },
                  "max_age_seconds": {
                    "type": [
                      "number",
                      "null"
                    ],
                    "minimum": 1,
                    "maximum": 315360000
                  },
                  "max_bytes": {
                    "type": [
                      "integer",
                      "null"
                    ],
                    "minimum": 1024,
                    "maximum": 1099511627776
                  }
                }
              },
              "depends_on": {
                "type": [
                  "array",
                  "null"
                ],
                "maxItems": 256,
                "uniqueItems": true,
                "items": {
                  "anyOf": [
                    {
                      "type": "string",
                      "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$",
                      "description": "An agent id (condition `started`)."
                    },
                    {
                      "type": "object",
                      "additionalProperties": false,
                      "required": [
                        "agent"
                      ],
                      "properties": {
                        "agent": {
                          "type": "string",
                          "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"
                        },
                        "condition": {
                          "type": [
                            "string",
                            "null"
                          ],
                          "enum": [
                            "started",
                            "healthy",
                            null
                          ]
                        },
                        "restart": {
                          "type": [
                            "boolean",
                            "null"
                          ],
                          "description": "Restart this agent when the dependency restarts."
                        }
                      }
                    }
                  ]
                },
                "description": "Agents (known to this supervisor, not itself, no cycle, each once) to start before this one."
              }
            }
          },
          "StopRequest": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
              "stop_timeout_seconds": {
                "type": [
                  "number",
                  "null"
                ],
                "minimum": 0,
                "maximum": 3600,
                "description": "Seconds between SIGTERM and SIGKILL (default the agent's own)."
              }
            }
          },
          "RuntimeHealth": {
            "type": "object",
            "required": [
              "status",
              "version",
              "mode",
              "timestamp",
              "uptime_seconds",
              "agents",
              "limits"
            ],
            "properties": {
              "status": {
                "type": "string",
                "const": "healthy"
              },
              "version": {
                "type": "string"
              },
              "mode": {
                "type": "string",
                "const": "supervisor"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time"
              },
              "uptime_seconds": {
                "type": "number",
                "minimum": 0
              },
              "agents": {
                "type": "integer",
                "minimum": 0
              },
              "limits": {
                "type": "object",
                "description": "How resource limits are enforced here: `cgroup` names the supervisor's cgroup, `reason` why there is none.",
                "required": [
                  "backend",
                  "enforced"
                ],
                "properties": {
                  "backend": {
                    "type": "string",
                    "enum": [
                      "cgroup-v1",
                      "cgroup-v2",
                      "none"
                    ]
                  },
                  "enforced": {
                    "type": "boolean"
                  },
                  "cgroup": {
                    "type": "string"
                  },
                  "reason": {
                    "type": "string"
                  }
                }
              }
            }
          },
          "Status": {
            "type": "object",
            "required": [
              "supervisor",
              "processes",
              "routes",
              "quotas"
            ],
            "properties": {
              "supervisor": {
                "type": "string",
                "const": "running"
              },
              "processes": {
                "type": "object",
                "description": "By process id.",
                "additionalProperties": {
                  "$ref": "#/components/schemas/Process"
                }
              },
              "routes": {
                "type": "array",
                "items": {
                  "type": "string"
                },
                "description": "Agents that take traffic through /agents/{agent_id}."
              },
              "quotas": {
                "type": "object",
                "required": [
                  "max_agents",
                  "max_total_memory_mb",
                  "max_total_cpu"
                ],
                "properties": {
                  "max_agents": {
                    "type": "object",
                    "required": [
                      "limit",
                      "used"
                    ],
                    "properties": {
                      "limit": {
                        "type": [
                          "integer",
                          "null"
                        ],
                        "description": "null: no quota."
                      },
                      "used": {
                        "type": "integer",
                        "minimum": 0
                      }
                    }
                  },
                  "max_total_memory_mb": {
                    "type": "object",
                    "required": [
                      "limit",
                      "used"
                    ],
                    "properties": {
                      "limit": {
                        "type": [
                          "integer",
                          "null"
                        ],
                        "description": "null: no quota."
                      },
                      "used": {
                        "type": "integer",
                        "minimum": 0
                      }
                    }
                  },
                  "max_total_cpu": {
                    "type": "object",
                    "required": [
                      "limit",
                      "used"
                    ],
                    "properties": {
                      "limit": {
                        "type": [
                          "number",
                          "null"
                        ],
                        "description": "null: no quota."
                      },
                      "used": {
                        "type": "number",
                        "minimum": 0
                      }
                    }
                  }
                }
              }
            }
          },
          "FleetHealth": {
            "type": "object",
            "description": "From cached probe results; no agent is called.",
            "required": [
              "status",
              "total_agents",
              "log_store",
              "healthy_agents",
              "failed_agents",
              "timestamp",
              "agent_health"
            ],
            "properties": {
              "status": {
                "type": "string",
                "enum": [
                  "healthy",
                  "degraded",
                  "unhealthy"
                ]
              },
              "total_agents": {
                "type": "integer",
                "minimum": 0,
                "description": "Agents with a process or a restart coming."
              },
              "log_store": {
                "type": "object",
                "required": [
                  "status",
                  "reason",
                  "since",
                  "lost_lines"
                ],
                "properties": {
                  "status": {
                    "type": "string",
                    "enum": [
                      "ok",
                      "degraded"
                    ]
                  },
                  "reason": {
                    "type": [
                      "string",
                      "null"
                    ]
                  },
                  "since": {
                    "type": [
                      "string",
                      "null"
                    ],
                    "format": "date-time"
                  },
                  "lost_lines": {
                    "type": "integer",
                    "minimum": 0
                  }
                }
              },
              "healthy_agents": {
                "type": "integer",
                "minimum": 0
              },
              "failed_agents": {
                "type": "integer",
                "minimum": 0,
                "description": "Agents in state `failed` (their restart policy gave up); any makes the status `degraded`."
              },
              "timestamp": {
                "type": "string",
                "format": "date-time"
              },
              "agent_health": {
                "type": "object",
                "description": "By agent id.",
                "additionalProperties": {
                  "type": "object",
                  "required": [
                    "agent_id",
                    "process_id",
                    "status",
                    "details"
                  ],
                  "properties": {
                    "agent_id": {
                      "type": "string"
                    },
                    "process_id": {
                      "type": "string"
                    },
                    "status": {
                      "type": "string",
                      "description": "The health status while running, else the state."
                    },
                    "details": {
                      "type": "object",
                      "required": [
                        "state",
                        "port",
                        "pid",
                        "health",
                        "resources"
                      ],
                      "properties": {
                        "state": {
                          "$ref": "#/components/schemas/ProcessState"
                        },
                        "port": {
                          "type": [
                            "integer",
                            "null"
                          ]
                        },
                        "pid": {
                          "type": [
                            "integer",
                            "null"
                          ]
                        },
                        "health": {
                          "$ref": "#/components/schemas/HealthStatus"
                        },
                        "resources": {
                          "oneOf": [
                            {
                              "type": "null"
                            },
                            {
                              "$ref": "#/components/schemas/ResourceUsage"
                            }
                          ]
                        }
                      }
                    }
                  }
                }
              }
            }
          },
          "ReloadReport": {
            "type": "object",
            "required": [
              "status",
              "added",
              "removed",
              "changed",
              "adopted",
              "unchanged",
              "errors",
              "restart_required"
            ],
            "properties": {
              "status": {
                "type": "string",
                "const": "success"
              },
              "added": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "removed": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "changed": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "adopted": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "unchanged": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "errors": {
                "type": "object",
                "additionalProperties": {
                  "type": "string"
                },
                "description": "Agents the file asks for that could not be started, and why."
              },
              "restart_required": {
                "type": "array",
                "items": {
                  "type": "string"
                },
                "description": "Daemon options the file changed, which apply at the next start."
              }
            }
          },
          "LogEntry": {
            "type": "object",
            "required": [
              "sequence",
              "process_id",
              "timestamp",
              "level",
              "message",
              "extra"
            ],
            "properties": {
              "sequence": {
                "type": "integer",
                "minimum": 0
              },
              "process_id": {
                "type": "string"
              },
              "timestamp": {
                "type": "string",
                "format": "date-time"
              },
              "level": {
                "type": "string",
                "enum": [
                  "DEBUG",
                  "INFO",
                  "WARNING",
                  "ERROR",
                  "CRITICAL"
                ]
              },
              "message": {
                "type": "string"
              },
              "extra": {
                "type": "object",
                "description": "The line's other fields: its stream, the agent's run, `truncated`, fields parsed from a JSON line, ...",
                "required": [
                  "stream"
                ],
                "properties": {
                  "stream": {
                    "type": "string",
                    "enum": [
                      "stdout",
                      "stderr",
                      "supervisor",
                      "install"
                    ]
                  },
                  "run": {
                    "type": "integer"
                  },
                  "truncated": {
                    "type": "boolean"
                  }
                }
              }
            }
          },
          "LogPage": {
            "type": "object",
            "required": [
              "logs",
              "count",
              "next_cursor"
            ],
            "properties": {
              "logs": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/LogEntry"
                }
              },
              "count": {
                "type": "integer",
                "minimum": 0
              },
              "next_cursor": {
                "type": [
                  "string",
                  "null"
                ],
                "pattern": "^[0-9]+$",
                "description": "Pass as `cursor` for the next page; null on the last."
              }
            }
          },
          "LogClear": {
            "type": "object",
            "required": [
              "status",
              "message",
              "removed"
            ],
            "properties": {
              "status": {
                "type": "string",
                "const": "success"
              },
              "message": {
                "type": "string"
              },
              "removed": {
                "type": "integer",
                "minimum": 0
              }
            }
          },
          "LogStatistics": {
            "type": "object",
            "required": [
              "lines",
              "blocks",
              "bytes",
              "file_bytes",
              "processes",
              "blocks_awaiting_full_text",
              "live_subscribers"
            ],
            "properties": {
              "lines": {
                "type": "integer",
                "minimum": 0
              },
              "blocks": {
                "type": "integer",
                "minimum": 0
              },
              "bytes": {
                "type": "integer",
                "minimum": 0
              },
              "file_bytes": {
                "type": "integer",
                "minimum": 0
              },
              "processes": {
                "type": "integer",
                "minimum": 0
              },
              "blocks_awaiting_full_text": {
                "type": "integer",
                "minimum": 0
              },
              "live_subscribers": {
                "type": "integer",
                "minimum": 0
              }
            }
          },
          "SessionAnswer": {
            "type": "object",
            "description": "A dashboard session: send `csrf_token` as `X-CSRF-Token` on every request that changes state.",
            "required": [
              "status",
              "csrf_token",
              "expires_in_seconds"
            ],
            "properties": {
              "status": {
                "type": "string",
                "const": "success"
              },
              "csrf_token": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$"
              },
              "expires_in_seconds": {
                "type": "integer",
                "minimum": 1
              }
            }
          },
          "SignIn": {
            "type": "object",
            "required": [
              "token"
            ],
            "additionalProperties": false,
            "properties": {
              "token": {
                "type": "string",
                "description": "The management token from <data-dir>/token."
              }
            }
          }
        }
      }
    }
    """#
}
