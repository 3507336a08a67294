# frozen_string_literal: true

# Every curl command of the five documents (the public API documents of Flame Analytics,
# EyeNetra, BookingBug, Webitel and Overvis), as printed. The tests replace the host and the documents' example tokens and
# placeholders, and repair only what no shell could run (see FIXES).
module Docs
  FLAME_API_KEY = <<~'CURL'
    curl --request GET \
      --url https://api.flameanalytics.com/v2/... \
      --header 'Accept-Encoding: application/json' \
      --header 'Content-Type: application/json' \
      --header 'Authorization: ApiKey c42aaacd-45b2-4f76-8574-ce36981cf488' \
  CURL

  FLAME_CREATE_SESSION = <<~'CURL'
    curl --request POST \
      --url https://api.flameanalytics.com/v2/sessions \
      --header 'Accept-Encoding: application/json' \
      --header 'Content-Type: application/json' \
      --data '{"user": "support@flameanalytics.com","password": "apipassword"}'
  CURL

  FLAME_DELETE_SESSION = <<~'CURL'
    > curl --request DELETE \
      --url https://api.flameanalytics.com/v2/sessions \
      --header 'Authorization: Token token=nugyUyuzq6nqvm_uiesD' \
  CURL

  # EyeNetra prints no curl command: its request body and header, as printed.
  EYENETRA_LOGIN_BODY = <<~'JSON'
    {
      "email":"user@eyenetra.com",
      "password":"password"
    }
  JSON
  EYENETRA_HEADER = 'Authorization: Token token="123456......abcdef"'

  BOOKINGBUG_LOGIN = <<~'CURL'
    curl -X POST \
     https://{host}.bookingbug.com/api/v1/login \
     -H 'App-Key: {app-key}' \
     -H 'App-Id: {app-id}' \
     -H 'Content-Type: application/json' \
     -H 'Cache-Control: no-cache' \
     -d '{
       "email": "{email}", "password": "{password}" 
     }' 
  CURL

  BOOKINGBUG_PARENT_CHILD_LOGIN = <<~'CURL'
      curl -X POST \
       https://{host}.bookingbug.com/api/v1/login \
      -H 'App-Id: {app-id}' \
      -H 'App-Key: {app-key}' \ 
      -H 'Content-Type: application/json' \
      -H 'Cache-Control: no-cache" \
      -d'{
        "email": "{email}",
        "password": "{password}",
        "id": {company_id}
      }' 
  CURL

  BOOKINGBUG_ADMIN_LOGIN = <<~'CURL'
      curl -X POST \
       https://{host}.bookingbug.com/api/v1/login/admin/{company_id} \
      -H 'App-Id: {app-id}' \
      -H 'App-Key: {app-key}' \ 
      -H 'Content-Type: application/json' \
      -H 'Cache-Control: no-cache' \
      -d '{
        "email": "{email}",
        "password": "{password}"
      }' 
  CURL

  BOOKINGBUG_LOGOUT = <<~'CURL'
      curl -X DELETE \
       https://{host}.bookingbug.com/api/v1/login \
      -H 'App-Id: {app-id}' \
      -H 'App-Key: {app-key}' \ 
      -H 'Auth-Token: {auth-token}' \
      -H 'Content-Type: application/json' \
      -H 'Cache-Control: no-cache' \
  CURL

  WEBITEL_LOGIN = <<~'CURL'
    curl -X POST -H 'Content-Type: application/json' -d '{"username":"100@mydomain.com","password":"secret"}' "https://api.webitel.com:10022/login"
  CURL

  WEBITEL_LOGOUT = <<~'CURL'
    curl -X POST -H 'X-Access-Token: yJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE0NDIwMDUzOTY0ODh9.xCf6fbvOPc-CkYdD9MPxLXBEukHm1KX6w5zN5q55OBQ' -H 'X-Key: c1d19874-f2bb-4284-94ac-043cb97288fe' "https://api.webitel.com:10022/logout"
  CURL

  OVERVIS_AUTHENTICATE = <<~'CURL'
    curl -s -S -H "Content-Type: application/json" \
            -d '{"apiKey": "513cf747-eb5c-4d5f-931f-d22c9872c73c", "password": "DCdcSLmkoZkU5zGI9gpInDbo" }' \
            "https://ocp.overvis.com/api/v1/authenticate/" | \
        jq -C
  CURL

  OVERVIS_LOGOUT = <<~'CURL'
    TOKEN=`curl -s -H "Content-Type: application/json" \
        -d '{"apiKey": "513cf747-eb5c-4d5f-931f-d22c9872c73c", "password": "DCdcSLmkoZkU5zGI9gpInDbo" }' \
        "https://ocp.overvis.com/api/v1/authenticate/" | \
            jq -r ".token"` && \
    curl -s -S -H "Content-Type: application/json" -H "Authorization: token $TOKEN" \
        -d 'null' \
        "https://ocp.overvis.com/api/v1/logout/" | \
            jq -C
  CURL

  # What no shell runs as printed, repaired: Flame's "> " prompt before a command; BookingBug's
  # "\ " line ends (a backslash before a space ends the command there) and its
  # 'Cache-Control: no-cache" (a quote that never closes).
  FIXES = {
    /\A> / => "",
    /\\[ \t]+\n/ => "\\\n",
    %('Cache-Control: no-cache") => %('Cache-Control: no-cache')
  }.freeze
end
